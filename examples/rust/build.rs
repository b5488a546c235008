//! Compiles the C half of `race_ffi_buffer` (c/shared_buffer.c) against
//! `include/push.h` into a static library linked into the examples.

fn main() {
    let include = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../include");
    println!("cargo:rerun-if-changed=c/shared_buffer.c");
    println!(
        "cargo:rerun-if-changed={}",
        include.join("push.h").display()
    );
    cc::Build::new()
        .file("c/shared_buffer.c")
        .include(&include)
        .flag("-pthread")
        .flag("-fno-omit-frame-pointer")
        .debug(true)
        .compile("shared_buffer");
    println!("cargo:rustc-link-lib=pthread");
}
