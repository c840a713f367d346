//! Counts the program's allocations per size class through `ingot::hooks`,
//! without wrapping `GlobalAlloc`: the way a profiler (Tracy, say) would be
//! fed.
//!
//! Run: `cargo run --example size_classes` in bindings/rust.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use ingot::hooks::{self, Hooks};
use ingot::Ingot;

#[global_allocator]
static GLOBAL: Ingot = Ingot;

/// One counter per small size class (sizes from `arenas.bin.<i>.size`),
/// and one for everything larger.
struct PerClass {
    sizes: Vec<usize>,
    counts: Vec<AtomicU64>,
    large: AtomicU64,
}

impl PerClass {
    fn new() -> Result<PerClass, ingot::ctl::Error> {
        let nbins = ingot::ctl::arenas::nbins::read()?;
        let sizes = (0..nbins)
            .map(ingot::ctl::arenas::bin_size)
            .collect::<Result<Vec<usize>, _>>()?;
        let counts = sizes.iter().map(|_| AtomicU64::new(0)).collect();
        Ok(PerClass {
            sizes,
            counts,
            large: AtomicU64::new(0),
        })
    }

    fn count(&self, usable: usize) {
        // A small block's usable size is its class's size.
        match self.sizes.binary_search(&usable) {
            Ok(class) => self.counts[class].fetch_add(1, Ordering::Relaxed),
            Err(_) => self.large.fetch_add(1, Ordering::Relaxed),
        };
    }
}

impl Hooks for PerClass {
    fn on_alloc(&self, _ptr: *mut u8, _requested: usize, usable: usize) {
        self.count(usable);
    }
    fn on_resize(&self, old: *mut u8, new: *mut u8, _requested: usize, usable: usize) {
        if old != new {
            self.count(usable); // moved: a new block of the new class
        }
    }
}

fn workload() -> usize {
    let words: Vec<String> = (0..20_000).map(|i| format!("word{i}")).collect();
    let mut index: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, w) in words.iter().enumerate() {
        index.entry(w).or_default().push(i);
    }
    let tree: BTreeMap<usize, Box<[u8]>> = (0..5_000)
        .map(|i| (i, vec![0u8; i % 700].into_boxed_slice()))
        .collect();
    let big = vec![1u8; 1 << 20];
    words.len() + index.len() + tree.len() + big.len()
}

fn main() -> Result<(), ingot::ctl::Error> {
    let counter: &'static PerClass = Box::leak(Box::new(PerClass::new()?));
    hooks::set(counter);
    let n = workload();
    hooks::clear();

    println!("workload of {n} bytes and items; allocations per size class:");
    println!("{:>8}  {:>10}", "class", "count");
    let mut total = 0;
    for (size, count) in counter.sizes.iter().zip(&counter.counts) {
        let count = count.load(Ordering::Relaxed);
        total += count;
        if count > 0 {
            println!("{size:>8}  {count:>10}");
        }
    }
    let large = counter.large.load(Ordering::Relaxed);
    println!("{:>8}  {large:>10}", "larger");
    println!("{:>8}  {:>10}", "total", total + large);
    Ok(())
}
