//! A program of the selection example: the allocator comes from
//! select-util's alloc module; main announces it and prints statistics at
//! exit.
use std::collections::BTreeMap;

use select_util::alloc::{announce, new_allocator, Allocator};

#[global_allocator]
static ALLOC: Allocator = new_allocator();

fn main() {
    let _stats = announce();
    let map: BTreeMap<String, Vec<u8>> = (0..50_000)
        .map(|i| (format!("key{i:06}"), vec![(i % 251) as u8; i % 300]))
        .collect();
    let bytes: usize = map.values().map(Vec::len).sum();
    println!("{} entries, {bytes} bytes", map.len());
}
