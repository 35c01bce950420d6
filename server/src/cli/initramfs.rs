//! `marrow initramfs`: build the boot kernel and initramfs into
//! `DATA_DIR/boot/`, where the boot service serves them, and inspect what
//! was built.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use marrow_initramfs::cpio::Kind;
use marrow_initramfs::{BuildOptions, KernelSource, Linkage, Selection};
use serde_json::json;

use super::Global;
use crate::error::{Error, Result};

/// The target triple the static client is built for; `scripts/build-initramfs`
/// uses the same one (an explicit `--target` keeps `crt-static` off build
/// scripts and proc macros).
const CLIENT_TARGET: &str = "x86_64-unknown-linux-gnu";

#[derive(Debug, clap::Subcommand)]
pub enum InitramfsCommand {
    /// Build DATA_DIR/boot/vmlinuz and DATA_DIR/boot/initrd.img from Debian's
    /// kernel package, and put Debian's signed shim and GRUB beside them
    /// (shimx64.efi, grubx64.efi) for UEFI machines with Secure Boot on.
    Build(BuildArgs),
    /// List what DATA_DIR/boot/initrd.img holds.
    Inspect {
        /// Another initramfs to read instead.
        #[arg(long, value_name = "FILE")]
        initrd: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The static marrow-client to install as /init (default: next to this
    /// binary, or the cargo target path scripts/build-initramfs builds).
    #[arg(long, value_name = "PATH")]
    client: Option<PathBuf>,
    /// Use this already-downloaded linux-image-6.1.*-amd64 .deb instead of
    /// asking apt.
    #[arg(long, value_name = "DEB")]
    kernel_deb: Option<PathBuf>,
    /// Where downloaded packages and unpacked kernels are kept
    /// (default: DATA_DIR/cache/kernel).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Firmware directories searched for the files modules ask for, in
    /// order: an admin's copy of Debian's non-free firmware packages
    /// (firmware-realtek, firmware-bnx2, firmware-misc-nonfree, …) goes
    /// here. Repeat to search several; /lib/firmware is always searched
    /// last.
    #[arg(long = "firmware", visible_alias = "firmware-dir", value_name = "DIR")]
    firmware_dirs: Vec<PathBuf>,
    /// Leave this module out (repeatable), or a whole tree given as a
    /// path under kernel/ (drivers/scsi/qla2xxx), e.g. to see how the
    /// client explains a NIC it has no driver for.
    #[arg(long = "exclude-module", value_name = "NAME|TREE")]
    exclude_modules: Vec<String>,
    /// Static busybox for the rescue shell.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/bin/busybox",
        conflicts_with = "no_busybox"
    )]
    busybox: PathBuf,
    /// Build without the rescue shell.
    #[arg(long)]
    no_busybox: bool,
    /// The ntfs-3g binary to carry, with its libraries.
    #[arg(
        long = "ntfs-3g",
        value_name = "PATH",
        default_value = "/usr/bin/ntfs-3g"
    )]
    ntfs3g: PathBuf,
    /// Do not fetch shim-signed and grub-efi-amd64-signed (UEFI hosts
    /// then boot iPXE, which Secure Boot refuses).
    #[arg(long)]
    no_signed_chain: bool,
    /// zstd level for the initramfs.
    #[arg(long, default_value_t = 19)]
    zstd_level: i32,
    #[arg(long)]
    json: bool,
}

pub fn run(global: &Global, cmd: InitramfsCommand) -> Result<()> {
    match cmd {
        InitramfsCommand::Build(args) => build(global, args),
        InitramfsCommand::Inspect { initrd, json } => {
            inspect(&initrd.unwrap_or_else(|| global.dirs().initrd()), json)
        }
    }
}

fn build(global: &Global, args: BuildArgs) -> Result<()> {
    let client = match args.client {
        Some(path) => path,
        None => find_client()?,
    };
    let mut firmware_dirs = args.firmware_dirs;
    firmware_dirs.push(PathBuf::from("/lib/firmware"));
    let selection = Selection {
        exclude: args.exclude_modules,
        ..Selection::default()
    };
    let opts = BuildOptions {
        kernel: args.kernel_deb.map_or(KernelSource::Apt, KernelSource::Deb),
        cache_dir: args
            .cache_dir
            .unwrap_or_else(|| global.dirs().kernel_cache()),
        client,
        ntfs3g: args.ntfs3g,
        busybox: (!args.no_busybox).then_some(args.busybox),
        firmware_dirs,
        selection,
        out_dir: global.dirs().boot(),
        signed_chain: !args.no_signed_chain,
        zstd_level: args.zstd_level,
        grow_tools: marrow_initramfs::GROW_TOOLS
            .iter()
            .map(PathBuf::from)
            .collect(),
    };
    let spinner = Spinner::new();
    let report = marrow_initramfs::build(&opts, &mut |step| spinner.step(step));
    spinner.finish();
    let report = report?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serializes")
        );
        return Ok(());
    }
    println!(
        "kernel      {} ({})",
        report.kernel_version,
        report.kernel_deb.display()
    );
    println!(
        "vmlinuz     {} ({} bytes)",
        report.vmlinuz.display(),
        report.vmlinuz_bytes
    );
    println!(
        "initrd.img  {} ({} bytes {}, {} bytes unpacked, {} entries)",
        report.initrd.display(),
        report.initrd_bytes,
        report.compression,
        report.archive_bytes,
        report.entries
    );
    println!("blake3      {}", report.initrd_blake3);
    println!(
        "modules     {} in {} families ({})",
        report.modules.len(),
        report.families.len(),
        report.families.join(" ")
    );
    if !report.builtin.is_empty() {
        println!("built in    {}", report.builtin.join(" "));
    }
    println!("firmware    {} included", report.firmware_included.len());
    for m in &report.firmware_missing {
        println!("  missing   {} (for {})", m.file, m.module);
    }
    println!("ntfs-3g     {} files", report.ntfs3g_files.len());
    println!(
        "grow tools  {}",
        report
            .grow_tools
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for p in &report.grow_tools_missing {
        println!(
            "warning     {} is not installed: restores cannot grow that filesystem (scripts/install-deps installs it)",
            p.display()
        );
    }
    println!(
        "busybox     {}",
        if report.busybox {
            "included (rescue shell)"
        } else {
            "not included"
        }
    );
    match report.kernel_signature_bytes {
        Some(n) => println!("signature   kernel signed (Authenticode, {n} bytes)"),
        None => {
            println!("signature   kernel NOT signed: machines with Secure Boot on will refuse it")
        }
    }
    if let Some(chain) = &report.signed_chain {
        for f in [&chain.shim, &chain.grub] {
            println!(
                "signed      {} (from {}, signature {} bytes)",
                f.path.display(),
                f.package
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                f.signature_bytes
            );
        }
    }
    Ok(())
}

/// The static client: next to this binary (an installed system), or where
/// `scripts/build-initramfs` builds it in the cargo target directory. A
/// dynamically linked client (a plain `cargo build`) cannot be /init.
fn find_client() -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(Error::io("/proc/self/exe"))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let mut candidates = vec![dir.join("marrow-client")];
    if let Some(target) = dir.parent() {
        candidates.push(target.join(CLIENT_TARGET).join("release/marrow-client"));
    }
    let mut dynamic = Vec::new();
    for c in &candidates {
        if c.is_file() {
            match marrow_initramfs::host_linkage(c)? {
                Linkage::Static => return Ok(c.clone()),
                Linkage::Dynamic(_) => dynamic.push(c.display().to_string()),
            }
        }
    }
    let seen = if dynamic.is_empty() {
        String::new()
    } else {
        format!(" ({} is dynamically linked)", dynamic.join(", "))
    };
    Err(Error::Usage(format!(
        "no static marrow-client found at {}{seen}; build it with scripts/build-initramfs, or \
         RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build --release -p marrow-client --target {CLIENT_TARGET}, \
         and pass --client PATH",
        candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(" or ")
    )))
}

fn inspect(initrd: &Path, json: bool) -> Result<()> {
    let entries = marrow_initramfs::read_initrd(initrd)?;
    let missing = marrow_initramfs::missing_firmware(&entries);
    if json {
        let list: Vec<_> = entries
            .iter()
            .map(|e| {
                let (kind, size, target) = match &e.kind {
                    Kind::Dir => ("dir", 0, None),
                    Kind::File(d) => ("file", d.len(), None),
                    Kind::Symlink(t) => ("symlink", t.len(), Some(t.clone())),
                    Kind::CharDevice { major, minor } => ("char", 0, Some(format!("{major}:{minor}"))),
                };
                json!({ "path": e.path, "kind": kind, "mode": format!("{:o}", e.perm), "size": size, "target": target })
            })
            .collect();
        let doc = json!({ "entries": list, "firmware_missing": missing });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("entries serialize")
        );
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    for e in &entries {
        let line = match &e.kind {
            Kind::Dir => format!("d {:04o} {:>10} {}/", e.perm, "", e.path),
            Kind::File(d) => format!("f {:04o} {:>10} {}", e.perm, d.len(), e.path),
            Kind::Symlink(t) => format!("l {:04o} {:>10} {} -> {t}", e.perm, "", e.path),
            Kind::CharDevice { major, minor } => format!(
                "c {:04o} {:>10} {}",
                e.perm,
                format!("{major}:{minor}"),
                e.path
            ),
        };
        // A reader such as `head` closing the pipe early is not a failure.
        if let Err(e) = writeln!(out, "{line}") {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(Error::io("stdout")(e));
        }
    }
    if !missing.is_empty() {
        println!("firmware wanted but missing ({}): give it with `marrow initramfs build --firmware DIR`", missing.len());
        for m in &missing {
            println!("  {} (for {})", m.file, m.module);
        }
    }
    Ok(())
}

/// One line per build step on a terminal; silent in a pipe.
struct Spinner(Option<ProgressBar>);

impl Spinner {
    fn new() -> Self {
        if !std::io::stderr().is_terminal() {
            return Spinner(None);
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}").expect("valid template"),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Spinner(Some(bar))
    }

    fn step(&self, message: &str) {
        if let Some(bar) = &self.0 {
            bar.println(format!("  {message}"));
            bar.set_message(message.to_owned());
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
