//! Device platforms as data: `ssh/platforms/*.toml`, embedded in the binary.

use std::sync::OnceLock;

use regex::Regex;
use serde::Deserialize;

use crate::command::Pattern;

/// The platform files, embedded.
const FILES: &[(&str, &str)] = &[
    (
        "arista_eos.toml",
        include_str!("../platforms/arista_eos.toml"),
    ),
    (
        "cisco_ios.toml",
        include_str!("../platforms/cisco_ios.toml"),
    ),
    (
        "cisco_nxos.toml",
        include_str!("../platforms/cisco_nxos.toml"),
    ),
    ("cisco_xr.toml", include_str!("../platforms/cisco_xr.toml")),
    (
        "huawei_vrp.toml",
        include_str!("../platforms/huawei_vrp.toml"),
    ),
    (
        "juniper_junos.toml",
        include_str!("../platforms/juniper_junos.toml"),
    ),
    ("linux.toml", include_str!("../platforms/linux.toml")),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlatformFile {
    name: String,
    description: String,
    templates: String,
    exec: bool,
    prompt: String,
    setup: Vec<String>,
    paging: String,
    running_config: String,
    allow: Vec<String>,
}

/// A device family.
#[derive(Debug)]
pub struct Platform {
    /// Its name in the inventory (`cisco_ios`, ...), as ntc-templates and netmiko name it.
    pub name: String,
    /// What it covers.
    pub description: String,
    /// The platform name in the TextFSM templates' index.
    pub templates: String,
    /// Each command on its own exec channel (`true`), or in an interactive shell.
    pub exec: bool,
    /// The prompt that ends an output in a shell (matched on the last line).
    pub prompt: Regex,
    /// Sent in a shell before the command: paging and width off.
    pub setup: Vec<String>,
    /// A pager's prompt in a shell, answered with a space.
    pub paging: Regex,
    /// The command that prints the running configuration (configuration backups).
    pub running_config: String,
    /// The allowlist, in the file's order.
    pub(crate) allow: Vec<Pattern>,
}

/// Every platform SOTP knows, by name.
pub fn platforms() -> &'static [Platform] {
    static ALL: OnceLock<Vec<Platform>> = OnceLock::new();
    ALL.get_or_init(|| {
        FILES
            .iter()
            .map(|(file, text)| {
                load(text).unwrap_or_else(|e| panic!("ssh/platforms/{file} (embedded): {e}"))
            })
            .collect()
    })
}

impl Platform {
    /// The platform called `name`.
    pub fn named(name: &str) -> Option<&'static Platform> {
        platforms().iter().find(|p| p.name == name)
    }

    /// The names of every platform, for error messages and `--help`.
    pub fn names() -> Vec<&'static str> {
        platforms().iter().map(|p| p.name.as_str()).collect()
    }

    /// The allowlist as written in the platform file.
    pub fn allowed(&self) -> impl Iterator<Item = &str> {
        self.allow.iter().map(|p| p.source.as_str())
    }
}

fn load(text: &str) -> Result<Platform, String> {
    let f: PlatformFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let regex = |what: &str, re: &str| {
        Regex::new(re).map_err(|e| format!("{}: `{what}` is not a regex: {e}", f.name))
    };
    let allow = f
        .allow
        .iter()
        .map(|a| Pattern::parse(a).map_err(|e| format!("{}: allow `{a}`: {e}", f.name)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Platform {
        prompt: regex("prompt", &f.prompt)?,
        paging: regex("paging", &f.paging)?,
        name: f.name,
        description: f.description,
        templates: f.templates,
        exec: f.exec,
        setup: f.setup,
        running_config: f.running_config,
        allow,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_platform_file_loads_and_allows_its_running_config_command() {
        let names = Platform::names();
        assert_eq!(
            names,
            [
                "arista_eos",
                "cisco_ios",
                "cisco_nxos",
                "cisco_xr",
                "huawei_vrp",
                "juniper_junos",
                "linux"
            ]
        );
        for p in platforms() {
            assert!(
                p.check(&p.running_config).is_ok(),
                "{}: {}",
                p.name,
                p.running_config
            );
            assert!(p.allowed().count() > 5, "{}", p.name);
            for line in &p.setup {
                // Setup lines are sent by SOTP itself, never taken from a user; they
                // must still be plain single lines.
                assert!(!line.contains(['\n', '\r', ';', '|']), "{}: {line}", p.name);
            }
        }
    }

    #[test]
    fn prompts_match_what_the_devices_print() {
        let cases = [
            ("cisco_ios", "core-sw1#", true),
            ("cisco_ios", "core-sw1>", true),
            ("cisco_ios", "Building configuration...", false),
            ("juniper_junos", "netops@mx960-re0> ", true),
            ("huawei_vrp", "<HUAWEI>", true),
            ("huawei_vrp", "[~HUAWEI]", true),
            ("linux", "root@host:~# ", true),
        ];
        for (platform, line, matches) in cases {
            let p = Platform::named(platform).expect("known");
            assert_eq!(p.prompt.is_match(line), matches, "{platform}: {line:?}");
        }
    }
}
