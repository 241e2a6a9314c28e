//! The fuzz targets (`fuzz/src/lib.rs`) run as randomized tests on the stable toolchain: each
//! target replays its corpus (`fuzz/corpus/<target>/`) and then mutates it for a time budget.
//! `make test` gives each target a few seconds with a fixed seed; `make fuzz` runs the
//! coverage-guided `cargo fuzz` targets, or, where that cannot build, this harness for longer
//! with a fresh seed.
//!
//! `FUZZ_SECONDS` (per target, default 3), `FUZZ_SEED` (default fixed) and `FUZZ_TARGET`
//! (one target only) steer it. A failing input is written to
//! `target/fuzz-artifacts/<target>/` and named in the failure.

#[path = "../../../fuzz/src/lib.rs"]
mod bodies;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

type Body = fn(&[u8]);

/// Tokens worth splicing into inputs of each target.
fn dictionary(target: &str) -> &'static [&'static [u8]] {
    match target {
        "xvc_codec" => &[
            b"shift:",
            b"getinfo:",
            b"settck:",
            b"E",
            b"\x00\x00\x00\x00",
            b"\xff\xff\xff\xff",
            b"\x08\x00\x00\x00",
            b"\x40\x00\x00\x00",
        ],
        "config" => &[
            b"ports: ",
            b"listen: ",
            b"cables:\n",
            b"  - match: ",
            b"{ serial: ",
            b" }",
            b"port: ",
            b"priority: ",
            b"name: ",
            b"allow: [",
            b"]",
            b"access: strict",
            b"access: permissive",
            b"on_busy: queue",
            b"idle_timeout: ",
            b"max_frequency: ",
            b"tdo_edge: auto",
            b"profile: hs2",
            b"max_cables: ",
            b"auto_serve: false",
            b"preempt: idle",
            b"shutdown_timeout: ",
            b"metrics: { listen: 127.0.0.1:9100 }",
            b"state_dir: /tmp/x",
            b"usb_path: 1-*",
            b"vid_pid: 0403:6014",
            b"product: \"*\"",
            b"2542-2550",
            b"127.0.0.1/8",
            b"::1",
            b"10s",
            b"30MHz",
            b"1.5",
            b"\n",
            b"\n  ",
            b"- ",
            b": ",
            b"#",
            b"&a ",
            b"*a",
            b"<<: ",
            b"\"",
            b"'",
            b"|\n",
            b"---\n",
            b"~",
            b"null",
            b"true",
            b"0x10",
            b"-1",
            b"99999999999999999999",
            b"\t",
            b"\xef\xbb\xbf",
        ],
        _ => &[b"\x00", b"\xff", b"\xfa\xaa", b"\xfa"],
    }
}

/// Seeds of each target besides its corpus directory.
fn builtin_seeds(target: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    match target {
        "xvc_codec" => {
            let mut stream = vec![64, 3, 7, 1, 200];
            stream.extend_from_slice(b"getinfo:settck:\x64\x00\x00\x00");
            stream.extend(xvc_agent::xvc::codec::encode_shift(
                13,
                &[0xFF, 0x1F],
                &[1, 2],
            ));
            stream.extend(xvc_agent::xvc::codec::encode_shift(0, &[], &[]));
            vec![stream, b"\x00\x00\x00\x00\x00E".to_vec()]
        }
        "config" => {
            let mut seeds = vec![b"".to_vec(), b"ports: 2542-2549\n".to_vec()];
            let mut files = vec![root.join("config/config.yaml")];
            if let Ok(dir) = std::fs::read_dir(root.join("tests/data")) {
                files.extend(
                    dir.flatten()
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|e| e == "yaml")),
                );
            }
            seeds.extend(files.iter().filter_map(|f| std::fs::read(f).ok()));
            seeds
        }
        _ => vec![vec![0; 16], vec![0xFF; 64], (0..=255u8).collect()],
    }
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|f| std::fs::read(f).ok()).collect()
}

fn mutate(rng: &mut StdRng, input: &mut Vec<u8>, pool: &[Vec<u8>], dict: &[&[u8]]) {
    for _ in 0..rng.gen_range(1..=4) {
        let len = input.len();
        match rng.gen_range(0..8) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                input[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                input[i] = rng.gen();
            }
            2 => {
                let i = rng.gen_range(0..=len);
                let n = rng.gen_range(1..=8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                input.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let a = rng.gen_range(0..len);
                let b = (a + rng.gen_range(1..=16)).min(len);
                input.drain(a..b);
            }
            4 if len > 0 => {
                let a = rng.gen_range(0..len);
                let b = (a + rng.gen_range(1..=32)).min(len);
                let copy = input[a..b].to_vec();
                let at = rng.gen_range(0..=input.len());
                input.splice(at..at, copy);
            }
            5 | 6 => {
                let token = dict[rng.gen_range(0..dict.len())];
                let at = rng.gen_range(0..=len);
                input.splice(at..at, token.iter().copied());
            }
            _ => {
                let other = &pool[rng.gen_range(0..pool.len())];
                if !other.is_empty() {
                    let a = rng.gen_range(0..other.len());
                    let b = (a + rng.gen_range(1..=64)).min(other.len());
                    let at = rng.gen_range(0..=len);
                    input.splice(at..at, other[a..b].iter().copied());
                }
            }
        }
    }
    input.truncate(64 * 1024);
}

fn save_failure(target: &str, input: &[u8]) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    input.hash(&mut h);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/fuzz-artifacts")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("crash-{:016x}", h.finish()));
    std::fs::write(&path, input).unwrap();
    path
}

fn run(target: &str, body: Body) {
    if std::env::var("FUZZ_TARGET").is_ok_and(|t| t != target) {
        return;
    }
    let budget = Duration::from_secs_f64(
        std::env::var("FUZZ_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3.0),
    );
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_f0a9);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pool = corpus(target);
    let from_corpus = pool.len();
    pool.extend(builtin_seeds(target));
    let dict = dictionary(target);
    let check = |input: &[u8]| {
        if std::panic::catch_unwind(|| body(input)).is_err() {
            let path = save_failure(target, input);
            panic!(
                "fuzz target {target} failed on {} (seed {seed}); replay with that file in fuzz/corpus/{target}/",
                path.display()
            );
        }
    };
    for input in &pool {
        check(input);
    }
    let started = Instant::now();
    let mut execs = 0u64;
    while started.elapsed() < budget {
        for _ in 0..64 {
            let mut input = if rng.gen_range(0..16) == 0 {
                (0..rng.gen_range(0..256)).map(|_| rng.gen()).collect()
            } else {
                pool[rng.gen_range(0..pool.len())].clone()
            };
            mutate(&mut rng, &mut input, &pool, dict);
            check(&input);
            execs += 1;
            // Keep some mutants as parents, so changes accumulate.
            if rng.gen_range(0..32) == 0 {
                if pool.len() < 4096 {
                    pool.push(input);
                } else {
                    let i = rng.gen_range(0..pool.len());
                    pool[i] = input;
                }
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "fuzz {target}: {from_corpus} corpus inputs replayed, {execs} mutated inputs in {secs:.1} s ({:.0} execs/s, seed {seed})",
        execs as f64 / secs
    );
}

#[test]
fn fuzz_xvc_codec() {
    run("xvc_codec", bodies::xvc_codec);
}

#[test]
fn fuzz_mpsse_reply() {
    run("mpsse_reply", bodies::mpsse_reply);
}

#[test]
fn fuzz_config() {
    run("config", bodies::config);
}
