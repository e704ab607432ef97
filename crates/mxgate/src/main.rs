//! The `mxgate` command.
#![forbid(unsafe_code)]

fn main() {
    println!("mxgate: gateway not built yet");
}
