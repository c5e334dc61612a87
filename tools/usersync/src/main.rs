//! `usersync`: keep the user directory equal to an HR export. The work is in the library
//! (`cargo doc -p usersync --open`); `usersync --help` lists the options.

fn main() -> std::process::ExitCode {
    usersync::main()
}
