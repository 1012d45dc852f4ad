//! `p2p-chat`: see `p2p-chat --help`.

fn main() -> std::process::ExitCode {
    peer::app::main()
}
