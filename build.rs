fn main() {
    // The embedded package set: rebuild when any file under pkgs/ changes.
    println!("cargo:rerun-if-changed=pkgs");
}
