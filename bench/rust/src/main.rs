//! Allocation-heavy Rust workloads, one per run:
//!
//!   btree     build a BTreeMap<String, Vec<u8>> of 200k entries of mixed
//!             sizes, look a third of the keys up, drop it; twice
//!   json      generate a JSON-like document (~8 MB), parse it into an owned
//!             tree (String keys, Vec and BTreeMap nodes), transform it into a
//!             new tree, print it back to text, drop both; twice
//!   channels  four threads in a ring pass Vec<u8>s of 16 B to 4 KiB through
//!             mpsc channels; each stage frees what it received and sends a
//!             new Vec on (every free on another thread than the allocation)
//!
//! Prints `<workload> <seconds> <peak RSS KiB>` (the workload's wall time and
//! the process's VmHWM) and a checksum line, so the work cannot be skipped.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

#[cfg(any(feature = "ingot", feature = "ingot-hardened"))]
#[global_allocator]
static GLOBAL: ingot::Ingot = ingot::Ingot;

/// A small deterministic generator (xorshift64*), so runs do the same work.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn btree() -> u64 {
    let mut sum = 0u64;
    for round in 0..2u64 {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ round);
        let mut map: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for i in 0..200_000u64 {
            let key = format!("user:{:08x}:{}", rng.next() as u32, i);
            let len = match rng.below(10) {
                0..=5 => rng.below(48),
                6..=8 => 48 + rng.below(400),
                _ => 448 + rng.below(3600),
            } as usize;
            map.insert(key, vec![i as u8; len]);
        }
        let keys: Vec<String> = map.keys().step_by(3).cloned().collect();
        for k in &keys {
            sum += map[k].len() as u64;
        }
        sum += map.len() as u64;
    }
    sum
}

#[derive(Debug)]
enum Value {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Value>),
    Obj(BTreeMap<String, Value>),
}

fn gen_doc(rng: &mut Rng, depth: u32, out: &mut String) {
    let pick = if depth >= 5 {
        rng.below(4)
    } else {
        rng.below(6)
    };
    match pick {
        0 => out.push_str(if rng.below(2) == 0 { "true" } else { "null" }),
        1 => out.push_str(&format!("{}.{}", rng.below(100_000), rng.below(100))),
        2 | 3 => {
            out.push('"');
            for _ in 0..(4 + rng.below(28)) {
                out.push((b'a' + rng.below(26) as u8) as char);
            }
            out.push('"');
        }
        4 => {
            out.push('[');
            for i in 0..(1 + rng.below(8)) {
                if i > 0 {
                    out.push(',');
                }
                gen_doc(rng, depth + 1, out);
            }
            out.push(']');
        }
        _ => {
            out.push('{');
            for i in 0..(1 + rng.below(8)) {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&format!("\"field_{}_{}\":", depth, rng.below(40) + i * 40));
                gen_doc(rng, depth + 1, out);
            }
            out.push('}');
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> u8 {
        self.s[self.at]
    }
    fn string(&mut self) -> String {
        self.at += 1; // opening quote
        let start = self.at;
        while self.s[self.at] != b'"' {
            self.at += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.at])
            .unwrap()
            .to_string();
        self.at += 1;
        text
    }
    fn value(&mut self) -> Value {
        match self.peek() {
            b'n' => {
                self.at += 4;
                Value::Null
            }
            b't' => {
                self.at += 4;
                Value::Bool(true)
            }
            b'"' => Value::Str(self.string()),
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    items.push(self.value());
                    let c = self.peek();
                    self.at += 1;
                    if c == b']' {
                        break;
                    }
                }
                Value::Arr(items)
            }
            b'{' => {
                self.at += 1;
                let mut fields = BTreeMap::new();
                loop {
                    let key = self.string();
                    self.at += 1; // colon
                    let v = self.value();
                    fields.insert(key, v);
                    let c = self.peek();
                    self.at += 1;
                    if c == b'}' {
                        break;
                    }
                }
                Value::Obj(fields)
            }
            _ => {
                let start = self.at;
                while self.at < self.s.len()
                    && (self.peek().is_ascii_digit() || self.peek() == b'.')
                {
                    self.at += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.at]).unwrap();
                Value::Num(text.parse().unwrap())
            }
        }
    }
}

/// A new tree: keys upper-cased, numbers scaled, strings reversed, arrays
/// without nulls.
fn transform(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::Bool(b) => Value::Bool(!b),
        Value::Num(n) => Value::Num(n * 1.5),
        Value::Str(s) => Value::Str(s.chars().rev().collect()),
        Value::Arr(items) => Value::Arr(
            items
                .iter()
                .filter(|i| !matches!(i, Value::Null))
                .map(transform)
                .collect(),
        ),
        Value::Obj(fields) => Value::Obj(
            fields
                .iter()
                .map(|(k, v)| (k.to_uppercase(), transform(v)))
                .collect(),
        ),
    }
}

fn print(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Num(n) => out.push_str(&n.to_string()),
        Value::Str(s) => {
            out.push('"');
            out.push_str(s);
            out.push('"');
        }
        Value::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                print(item, out);
            }
            out.push(']');
        }
        Value::Obj(fields) => {
            out.push('{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('"');
                out.push_str(k);
                out.push_str("\":");
                print(v, out);
            }
            out.push('}');
        }
    }
}

fn json() -> u64 {
    let mut sum = 0u64;
    for round in 0..2u64 {
        let mut rng = Rng(0x1234_5678_9abc_def1 ^ round);
        let mut doc = String::from("[");
        let mut first = true;
        while doc.len() < 8 << 20 {
            if !first {
                doc.push(',');
            }
            first = false;
            gen_doc(&mut rng, 0, &mut doc);
        }
        doc.push(']');
        let tree = Parser {
            s: doc.as_bytes(),
            at: 0,
        }
        .value();
        let new_tree = transform(&tree);
        drop(tree);
        let mut text = String::new();
        print(&new_tree, &mut text);
        sum += (doc.len() + text.len()) as u64;
    }
    sum
}

fn channels() -> u64 {
    const STAGES: usize = 4;
    const MESSAGES: u64 = 1_000_000;
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..STAGES).map(|_| mpsc::channel::<Vec<u8>>()).unzip();
    let mut rxs: Vec<Option<mpsc::Receiver<Vec<u8>>>> = rxs.into_iter().map(Some).collect();
    let mut handles = Vec::new();
    for stage in 0..STAGES {
        let rx = rxs[stage].take().unwrap();
        let tx = txs[(stage + 1) % STAGES].clone();
        handles.push(thread::spawn(move || {
            let mut rng = Rng(0xdead_beef ^ stage as u64);
            let mut sum = 0u64;
            for _ in 0..MESSAGES {
                let got = rx.recv().unwrap();
                sum += got.len() as u64 + got.first().copied().unwrap_or(0) as u64;
                drop(got); // freed here, allocated on the stage before
                let len = 16 + rng.below(4080) as usize;
                if tx.send(vec![stage as u8; len]).is_err() {
                    break;
                }
            }
            sum
        }));
    }
    // A few messages in flight per stage start the ring.
    for (i, tx) in txs.iter().enumerate() {
        for _ in 0..64 {
            tx.send(vec![i as u8; 100]).unwrap();
        }
    }
    drop(txs);
    handles.into_iter().map(|h| h.join().unwrap()).sum()
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let workload = std::env::args().nth(1).unwrap_or_default();
    let run: fn() -> u64 = match workload.as_str() {
        "btree" => btree,
        "json" => json,
        "channels" => channels,
        _ => {
            eprintln!("usage: ingot-rust-bench btree|json|channels");
            std::process::exit(2);
        }
    };
    let start = Instant::now();
    let checksum = run();
    let secs = start.elapsed().as_secs_f64();
    println!("{workload} {secs:.3} {}", peak_rss_kib());
    eprintln!("checksum {checksum}");
}
