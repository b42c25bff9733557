//! Makes 20,000 links in one router link table and prints the mean cost of a link at 1,000,
//! 7,000 and 20,000 links, and its ratio to the cost at 1,000 (flat is 1.0; the table that copied
//! itself on every change gave about 14 at 7,000 and 74 at 20,000).

use std::time::Instant;

fn main() {
    let table = fs_core::symlinks::LinkTable::default();
    let marks = [1_000usize, 7_000, 20_000];
    let mut window = Instant::now();
    let mut first = None;
    println!("| links made | µs per link (last 1000) | ratio to 1000 |");
    println!("|---:|---:|---:|");
    for i in 1..=20_000usize {
        table
            .insert(&format!("/memfs/dir/link-{i}"), "/memfs/target")
            .expect("a fresh link");
        if i % 1_000 == 0 {
            let us = window.elapsed().as_secs_f64() * 1e6 / 1_000.0;
            let base = *first.get_or_insert(us);
            if marks.contains(&i) {
                println!("| {i} | {us:.2} | {:.2} |", us / base);
            }
            window = Instant::now();
        }
    }
}
