//! Builds `tests/c/wide_literals.c` with `-fshort-wchar -DUNICODE`, as C99 and as C++11,
//! against `include/windows.h` and the freshly built `libnpipe.so`, and runs each (it spawns
//! itself as the client process): L"..." literals and TEXT() are WCHAR strings there, as on
//! Windows, and the generic names are the W functions.

mod cbuild;

fn build_and_run(compiler: &str, std: &str, tag: &str) {
    let std_flag = format!("-std={std}");
    let mut flags = vec![];
    if compiler.ends_with("++") {
        flags.extend(["-x", "c++"]);
    }
    flags.extend([
        std_flag.as_str(),
        "-Wall",
        "-Werror",
        "-fshort-wchar",
        "-DUNICODE",
        "-D_POSIX_C_SOURCE=200809L",
    ]);
    let source = cbuild::crate_dir().join("tests/c/wide_literals.c");
    let exe = cbuild::compile_with(compiler, &flags, &source, tag);
    let out = cbuild::run(&exe);
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    assert!(
        out.status.success() && text.contains(" passed, 0 failed"),
        "{std}: {text}"
    );
}

#[test]
fn wide_literals_in_c99() {
    build_and_run(
        &std::env::var("CC").unwrap_or_else(|_| "cc".into()),
        "c99",
        "wide-c99",
    );
}

#[test]
fn wide_literals_in_cpp11() {
    build_and_run(
        &std::env::var("CXX").unwrap_or_else(|_| "c++".into()),
        "c++11",
        "wide-cpp11",
    );
}
