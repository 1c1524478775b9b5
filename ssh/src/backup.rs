//! Configuration backups: secrets masked before storage, a stable hash, unified diffs.
//!
//! A running configuration holds credentials: enable and user passwords, SNMP communities
//! and SNMPv3 keys, TACACS+/RADIUS shared keys, routing-protocol authentication keys
//! (OSPF, IS-IS, BGP, key chains, HSRP/VRRP, NTP), IKE pre-shared keys and WPA keys. Even
//! the "encrypted" forms (Cisco type 7, Junos `$9$`) are reversible, and the hashed ones
//! (type 5/8/9, `$6$`) can be brute-forced offline, so SOTP never stores any of them:
//! [`mask_secrets`] replaces each secret value by [`SECRET_MASK`] before a configuration is
//! kept, hashed ([`config_hash`]) or diffed ([`unified_diff`]).
//!
//! Only the value is replaced: the keyword, the encryption type (`enable secret 5
//! <removed>`), the options after the value (`role network-admin`, `RO 10`,
//! `address 203.0.113.9`), the quotes and `;` of Junos, the indentation, the line order
//! and the line ends (`\n` or `\r\n`) stay byte for byte, and a line without a secret is
//! left as it is. Syntaxes covered:
//!
//! - Cisco IOS/IOS-XE/NX-OS/IOS-XR and Arista EOS: `enable secret|password`,
//!   `username … password|secret`, `password` and `secret` lines (lines, BGP neighbours,
//!   XR users), `key` lines of `tacacs server`/`radius server`/ASA `aaa-server` blocks,
//!   `tacacs-server|radius-server [host …] key`, `server-private … key`, `key-string`,
//!   `ip ospf authentication-key`, `message-digest-key N md5`, `ntp authentication-key`,
//!   `neighbor … password`, `crypto isakmp key`, `pre-shared-key`, `wpa-psk`,
//!   `snmp-server community`, `snmp-server host … <community>` (v1/v2c), `snmp-server user
//!   … auth … priv …`, IS-IS `isis password`/`area-password`/`domain-password`/
//!   `lsp-password`, HSRP/VRRP plain-text `authentication`, `key config-key`.
//! - Juniper Junos, braces and `set` forms: `encrypted-password`, `authentication-key`,
//!   `secret`, `pre-shared-key ascii-text|hexadecimal`, `md5 N key`, `privacy-key`,
//!   `simple-password`, `community-name`, and the community names of `snmp { community X
//!   { … } }` / `set snmp community X` (not those of `policy-options`, which are not
//!   secrets).
//! - Huawei VRP: `password cipher|simple|irreversible-cipher`, `local-user … password`,
//!   `super password`, `peer … password`, `shared-key cipher`, `snmp-agent community
//!   read|write`, `snmp-agent usm-user … authentication-mode … privacy-mode …`,
//!   `securityname cipher`, `…authentication-mode … cipher|plain|simple`,
//!   `ntp-service authentication-keyid`, `pass-phrase`.
//! - Linux-style `key=value`: a key containing `password`, `passwd`, `secret`, `psk` or
//!   `passphrase` (any case).
//!
//! Not masked, on purpose: `no …`/`undo …` lines (they carry no value), comment lines
//! (`!`, `#`, `/*`), banners (`banner motd ^C … ^C`, EOS `banner … EOF`, Huawei `header …
//! "…"`), `description`/`remark` text and anything inside a quoted string before the
//! keyword, and statements that merely name the password feature (`service
//! password-encryption`, `password encryption aes`, `password strength-check`, `aaa
//! password-policy`, Junos `password { format sha512; }`, `authentication-order [ password
//! radius ]`).

use std::fmt::Write as _;
use std::sync::LazyLock;
use std::time::Duration;

use regex::{Regex, RegexSet};
use sha2::{Digest, Sha256};
use similar::TextDiff;

/// What a secret value is replaced with.
pub const SECRET_MASK: &str = "<removed>";

/// How long [`unified_diff`] may search for the smallest diff before it settles for a
/// coarser (still correct) one: two very different configurations of 100,000 lines must
/// not hold a request.
const DIFF_TIMEOUT: Duration = Duration::from_secs(2);

/// Returns the configuration with every secret value replaced by [`SECRET_MASK`].
///
/// The keyword, the encryption-type digit and the options after the value are kept
/// (`username admin password 5 <removed>  role network-admin`); every other byte, line
/// ends included, is unchanged. Cisco IOS/IOS-XE/NX-OS/IOS-XR, Arista EOS, Juniper Junos
/// (braces and `set`), Huawei VRP and `key=value` syntaxes are recognised (the list is at
/// the top of `ssh/src/backup.rs`); `no`/`undo` lines, comments, banners and descriptions
/// are left alone. Masking is idempotent: masking a masked configuration gives it back
/// unchanged.
pub fn mask_secrets(text: &str) -> String {
    let lines: Vec<(&str, &str)> = text.split_inclusive('\n').map(split_line_end).collect();
    let in_banner = banner_lines(&lines);
    let mut out = String::with_capacity(text.len() + 64);
    let mut scan = Scan::default();
    for (&(line, end), banner) in lines.iter().zip(in_banner) {
        let masked = if banner { None } else { scan.mask_line(line) };
        out.push_str(masked.as_deref().unwrap_or(line));
        out.push_str(end);
    }
    out
}

/// A stable digest of a configuration: the lowercase hex SHA-256 of its masked text
/// ([`mask_secrets`]) with the lines that change on every collection left out.
///
/// Two collections of an unchanged configuration give the same hash, so a backup need only
/// be stored when the hash moves. Left out before hashing: Cisco `Building
/// configuration...`, `Current configuration : N bytes`, `! Last configuration change at
/// …`, `! NVRAM config last updated at …`, `! No configuration change since last restart`,
/// `ntp clock-period N`, NX-OS `!Time: …` and `!Running configuration last done at: …`,
/// the IOS-XR timestamp line, Junos `## Last commit: …`/`## Last changed: …`, Huawei
/// `!Software Version …` and `!Last configuration was updated|saved at …`; trailing
/// whitespace of every line (so `\r\n` and `\n` copies hash alike) and blank lines at the
/// start and the end. Because the text is masked first, a change of a secret value alone
/// does not change the hash.
pub fn config_hash(text: &str) -> String {
    let masked = mask_secrets(text);
    let lines: Vec<&str> = masked
        .lines()
        .map(str::trim_end)
        .filter(|line| !VOLATILE.is_match(line))
        .collect();
    let first = lines
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(lines.len());
    let last = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(first, |i| i + 1);
    let mut hasher = Sha256::new();
    for line in &lines[first..last] {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    let mut hex = String::with_capacity(64);
    for byte in hasher.finalize() {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// A unified diff (`---`/`+++` headers, `@@` hunks, 3 lines of context) from `old` to
/// `new`, or an empty string when they are equal.
///
/// Both texts are masked with [`mask_secrets`] first (a no-op on stored, already masked
/// configurations), so a diff never shows a secret, nor a change of one. Line breaks in the
/// labels are replaced by spaces so that a label cannot add lines to the diff. The diff
/// search is bounded in time; past the bound the diff is coarser but still correct.
pub fn unified_diff(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    let old = mask_secrets(old);
    let new = mask_secrets(new);
    if old == new {
        return String::new();
    }
    let diff = TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(old.as_str(), new.as_str());
    diff.unified_diff()
        .context_radius(3)
        .header(&one_line(old_label), &one_line(new_label))
        .to_string()
}

fn one_line(label: &str) -> String {
    label.replace(['\r', '\n'], " ")
}

/// Splits `"text\r\n"` into `("text", "\r\n")`.
fn split_line_end(piece: &str) -> (&str, &str) {
    if let Some(line) = piece.strip_suffix("\r\n") {
        (line, "\r\n")
    } else if let Some(line) = piece.strip_suffix('\n') {
        (line, "\n")
    } else {
        (piece, "")
    }
}

/// Which lines belong to a banner (start and end line included). A banner start whose end
/// is never found is not taken as one, so that a malformed banner cannot switch masking
/// off for the rest of the configuration.
fn banner_lines(lines: &[(&str, &str)]) -> Vec<bool> {
    let mut in_banner = vec![false; lines.len()];
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].0.trim_start();
        let end = if let Some(rest) = line.strip_prefix("banner ") {
            // `banner motd ^C...^C` (IOS, shown with a caret notation), `banner motd #...#`
            // (NX-OS), `banner motd ;...;` (XR), `banner login` then `EOF` (EOS).
            let mut words = rest.trim_start().splitn(2, char::is_whitespace);
            let _kind = words.next();
            let body = words.next().unwrap_or("").trim_start();
            if body.is_empty() {
                Some(BannerEnd::Eof)
            } else {
                let bytes = body.as_bytes();
                let delim_len =
                    if bytes[0] == b'^' && bytes.len() >= 2 && bytes[1].is_ascii_alphabetic() {
                        2
                    } else {
                        body.chars().next().map_or(1, char::len_utf8)
                    };
                let (delim, after) = body.split_at(delim_len);
                if after.contains(delim) {
                    in_banner[i] = true;
                    None
                } else {
                    Some(BannerEnd::Delimiter(delim))
                }
            }
        } else if let Some(rest) = line.strip_prefix("header ") {
            // Huawei `header login information "...` over several lines.
            if rest.matches('"').count() % 2 == 1 {
                Some(BannerEnd::Delimiter("\""))
            } else {
                in_banner[i] = rest.contains('"');
                None
            }
        } else {
            None
        };
        if let Some(end) = end {
            let close = lines[i + 1..].iter().position(|(l, _)| match end {
                BannerEnd::Eof => l.trim() == "EOF",
                BannerEnd::Delimiter(d) => l.contains(d),
            });
            if let Some(offset) = close {
                let last = i + 1 + offset;
                in_banner[i..=last].fill(true);
                i = last;
            }
        }
        i += 1;
    }
    in_banner
}

#[derive(Clone, Copy)]
enum BannerEnd<'a> {
    Eof,
    Delimiter(&'a str),
}

/// What is known of the lines above the current one.
#[derive(Default)]
struct Scan {
    /// The last top-level (unindented) line started a `key chain`.
    in_key_chain: bool,
    /// The names of the Junos blocks (`name … {`) the line is in.
    junos: Vec<String>,
}

impl Scan {
    /// The masked line, or `None` when it holds no secret.
    fn mask_line(&mut self, line: &str) -> Option<String> {
        let trimmed = line.trim();
        if trimmed.is_empty() || is_comment(trimmed) {
            return None;
        }
        let top_level = !line.starts_with(char::is_whitespace);
        if top_level {
            self.in_key_chain = trimmed.starts_with("key chain ");
        }
        let in_key_chain = self.in_key_chain && !top_level;
        let in_snmp = self.junos.last().is_some_and(|b| b == "snmp");
        let block_open = trimmed == "{" || trimmed.ends_with(" {");
        if trimmed.starts_with('}') {
            self.junos.pop();
        } else if block_open {
            let name = trimmed
                .trim_start_matches("inactive: ")
                .trim_start_matches("protect: ")
                .split_whitespace()
                .next()
                .unwrap_or("");
            self.junos.push(name.to_owned());
        }
        let first_word = trimmed.split_whitespace().next().unwrap_or("");
        if first_word == "no" || first_word == "undo" {
            return None;
        }
        for index in &RULES.set.matches(line) {
            let rule = &RULES.rules[index];
            let applies = match rule.context {
                Context::Any => !block_open,
                Context::OutsideKeyChain => !block_open && !in_key_chain,
                Context::JunosSnmp => in_snmp,
            };
            if !applies {
                continue;
            }
            let ranges = rule.secret_ranges(line);
            if !ranges.is_empty() {
                return Some(replace_ranges(line, ranges));
            }
        }
        None
    }
}

fn is_comment(trimmed: &str) -> bool {
    trimmed.starts_with('!') || trimmed.starts_with('#') || trimmed.starts_with("/*")
}

/// Replaces each byte range of `line` by [`SECRET_MASK`].
fn replace_ranges(line: &str, mut ranges: Vec<(usize, usize)>) -> String {
    ranges.sort_unstable();
    let mut out = String::with_capacity(line.len() + 16);
    let mut at = 0;
    for (start, end) in ranges {
        if start < at {
            continue; // overlapping: already masked
        }
        out.push_str(&line[at..start]);
        out.push_str(SECRET_MASK);
        at = end;
    }
    out.push_str(&line[at..]);
    out
}

/// Where a rule applies.
#[derive(Clone, Copy)]
enum Context {
    /// Anywhere but on a Junos block-opening line (`key 1 {`, `password {`).
    Any,
    /// As `Any`, and not on the `key N` lines of a Cisco `key chain` (key ids, not keys).
    OutsideKeyChain,
    /// Directly inside a Junos `snmp { … }` block, block-opening lines included.
    JunosSnmp,
}

/// One secret syntax: a pattern whose groups named `v…` are secret values and whose groups
/// named `t…` are encryption types.
struct Rule {
    re: Regex,
    context: Context,
    /// First words of a value that show the line configures a feature, not a secret
    /// (`password encryption aes`); only checked when no encryption type was given.
    not_values: &'static [&'static str],
    values: Vec<usize>,
    types: Vec<usize>,
}

/// Words before a value that make it text, not a secret.
const TEXT_WORDS: &[&str] = &[
    "description",
    "remark",
    "banner",
    "alias",
    "authentication-order",
    "announcement",
    "message",
    "header",
    "comment",
    "annotate",
];

impl Rule {
    /// The byte ranges of the secret values this rule finds in `line`: empty when it does
    /// not match, or matches only text, a quoted string, or a feature keyword.
    fn secret_ranges(&self, line: &str) -> Vec<(usize, usize)> {
        let mut ranges = Vec::new();
        for caps in self.re.captures_iter(line) {
            let Some(whole) = caps.get(0) else { continue };
            let found: Vec<(usize, usize)> = self
                .values
                .iter()
                .filter_map(|&i| caps.get(i))
                .map(|m| unquote(line, m.start(), m.end()))
                .collect();
            let Some(&(first_start, first_end)) = found.first() else {
                continue;
            };
            // Inside a quoted string (a Junos description, a message).
            if line[..whole.start()].matches('"').count() % 2 == 1 {
                continue;
            }
            let before = &line[..first_start];
            if before.split_whitespace().any(|w| {
                TEXT_WORDS
                    .iter()
                    .any(|t| w.trim_matches('"').eq_ignore_ascii_case(t))
            }) {
                continue;
            }
            let typed = self.types.iter().any(|&i| caps.get(i).is_some());
            if !typed && !self.not_values.is_empty() {
                let first_word = line[first_start..first_end]
                    .split_whitespace()
                    .next()
                    .unwrap_or("");
                if self.not_values.contains(&first_word) {
                    continue;
                }
            }
            ranges.extend(found);
        }
        ranges
    }
}

/// The range of a value without its quotes, or without a Junos `;` stuck to it.
fn unquote(line: &str, start: usize, end: usize) -> (usize, usize) {
    let value = &line[start..end];
    let quoted = value.len() >= 2
        && ((value.starts_with('"') && value.ends_with('"'))
            || (value.starts_with('\'') && value.ends_with('\'')));
    if quoted {
        (start + 1, end - 1)
    } else if value.len() >= 2 && value.ends_with(';') {
        (start, end - 1)
    } else {
        (start, end)
    }
}

struct RuleBook {
    set: RegexSet,
    rules: Vec<Rule>,
}

static RULES: LazyLock<RuleBook> = LazyLock::new(|| {
    let specs = rule_specs();
    let set = RegexSet::new(specs.iter().map(|(p, _, _)| p)).expect("the secret patterns compile");
    let rules = specs
        .into_iter()
        .map(|(pattern, context, not_values)| {
            let re = Regex::new(&pattern).expect("a secret pattern compiles");
            let named = |prefix: char| -> Vec<usize> {
                re.capture_names()
                    .enumerate()
                    .filter_map(|(i, name)| name.filter(|n| n.starts_with(prefix)).map(|_| i))
                    .collect()
            };
            let values = named('v');
            let types = named('t');
            Rule {
                re,
                context,
                not_values,
                values,
                types,
            }
        })
        .collect();
    RuleBook { set, rules }
});

/// Encryption-type words kept in front of a value: Cisco digits (0, 5, 6, 7, 8, 9, 10),
/// EOS `sha512`, XR `encrypted`/`clear`, Huawei `cipher`/`simple`/`irreversible-cipher`.
const TYPE: &str = r"(?:\d{1,2}|sha512|sha256|encrypted|clear|cipher|simple|irreversible-cipher)";

/// An optional encryption type before a value.
fn typed() -> String {
    format!(r"(?:(?P<t1>{TYPE})\s+)?")
}

/// A value that is one word (or one quoted string).
fn word(i: usize) -> String {
    format!(r#"(?P<v{i}>"[^"]*"|\S+)"#)
}

/// A value that runs to the end of the line (IOS passwords and keys may hold spaces), less
/// the options named in `trailing` that may follow it, a Junos `;` and `## SECRET-DATA`.
fn rest(trailing: &str) -> String {
    let options = if trailing.is_empty() {
        String::new()
    } else {
        format!(r"\s+(?:{trailing})(?:\s.*)?|")
    };
    format!(r#"(?P<v1>"[^"]*"|\S.*?)(?:{options}\s*;(?:\s*##.*)?)?\s*$"#)
}

/// Options that may follow a TACACS+/RADIUS key (NX-OS puts them after it).
const SERVER_OPTIONS: &str = "port|timeout|single-connection|auth-port|acct-port|authentication|accounting|retransmit|test|pac|vrf|use-vrf|source-interface";
/// Options that may follow a user's password (NX-OS and EOS `role`, ASA `encrypted`).
const USER_OPTIONS: &str = "role|privilege|encrypted|pbkdf2|nt-encrypted|expire|view";
/// First words after `password`/`secret` that configure the feature, not a secret.
const NOT_PASSWORDS: &[&str] = &[
    "encryption",
    "encryption-key",
    "strength-check",
    "secure-mode",
    "policy",
    "minimum",
    "maximum",
    "minimum-length",
    "maximum-length",
    "format",
    "change-type",
    "prompt",
    "keyboard",
    "history",
    "lifetime",
    "expire",
    "complexity-check",
    "[",
    "]",
    "{",
    "}",
];

/// Words after `snmp-server host H` that are options, not a community.
const NOT_COMMUNITIES: &[&str] = &[
    "version",
    "use-vrf",
    "vrf",
    "source-interface",
    "filter-vrf",
    "informs",
    "traps",
    "udp-port",
];
/// `key chain` and `key config-key` are not keys.
const NOT_KEYS: &[&str] = &["chain", "config-key"];
/// `standby 1 authentication md5 key-chain K` names a key chain.
const MD5: &[&str] = &["md5"];
/// `authentication-mode simple cipher|plain X`: the type, then the value.
const CIPHER_WORDS: &[&str] = &["cipher", "plain"];

/// The secret syntaxes, most specific first: the first rule that finds a secret on a line
/// masks it, the others are not tried.
fn rule_specs() -> Vec<(String, Context, &'static [&'static str])> {
    use Context::{Any, JunosSnmp, OutsideKeyChain};
    let ty = typed();
    let word1 = word(1);
    let word2 = word(2);
    let none: &'static [&'static str] = &[];
    vec![
        // snmp-server user U G [v3] auth sha X priv aes 128 Y (IOS, XR, NX-OS, EOS).
        (
            format!(
                r"^\s*snmp-server\s+user\s+\S.*?\sauth\s+(?:md5|sha\S*)\s+(?:(?:encrypted|clear|\d)\s+)?{word1}(?:.*?\spriv\s+(?:(?:3des|des56|des|aes(?:-?(?:128|192|256))?)\s+)?(?:(?:128|192|256)\s+)?(?:(?:encrypted|clear|\d)\s+)?{word2})?"
            ),
            Any,
            none,
        ),
        (format!(r"^\s*snmp-server\s+community\s+(?:(?:clear|encrypted)\s+)?{word1}"), Any, none),
        // The community of a v1/v2c trap host (for v3 the word is a user name).
        (
            format!(
                r"^\s*snmp-server\s+host\s+\S+(?:\s+(?:vrf|use-vrf)\s+\S+)?(?:\s+(?:informs|traps))?(?:\s+version\s+(?:1|2c))?\s+{word1}"
            ),
            Any,
            NOT_COMMUNITIES,
        ),
        // Huawei SNMP.
        (format!(r"^\s*snmp-agent\s+community\s+(?:read|write)\s+(?:(?:cipher|simple)\s+)?{word1}"), Any, none),
        (
            format!(
                r"^\s*snmp-agent\s+usm-user(?:.*?\sauthentication-mode\s+\S+\s+(?:(?:cipher|simple)\s+)?{word1})?(?:.*?\sprivacy-mode\s+\S+\s+(?:(?:cipher|simple)\s+)?{word2})?"
            ),
            Any,
            none,
        ),
        (format!(r"\ssecurityname\s+cipher\s+{word1}"), Any, none),
        (format!(r"^\s*key\s+config-key\s+(?:password-encrypt|1)\s+{word1}"), Any, none),
        // ntp authentication-key 1 md5 X 7 (IOS, NX-OS) or md5 7 X (EOS).
        (format!(r"^\s*ntp\s+authentication-key\s+\d+\s+\S+\s+(?:\d\s+)?{word1}(?:\s+\d+)?\s*$"), Any, none),
        (
            format!(
                r"^\s*ntp-service\s+authentication-keyid\s+\d+\s+authentication-mode\s+\S+\s+(?:(?:cipher|simple)\s+)?{word1}"
            ),
            Any,
            none,
        ),
        (format!(r"(?:^|\s)message-digest-key\s+\d+\s+md5\s+{ty}{}", rest("")), Any, none),
        // ip ospf authentication-key (Cisco), authentication-key "$9$…" (Junos).
        (format!(r"(?:^|\s)authentication-key\s+{ty}{}", rest("")), Any, none),
        (format!(r"(?:^|\s)key-string\s+(?:(?:password|clear)\s+)?{ty}{}", rest("timeout")), Any, none),
        (format!(r"(?:^|\s)wpa-psk\s+(?:ascii|hex)\s+{ty}{}", rest("")), Any, none),
        (format!(r"^\s*crypto\s+isakmp\s+key\s+{ty}{}", rest("address|hostname")), Any, none),
        (format!(r"(?:^|\s)pre-shared-key\s+(?:address|hostname)\s+\S.*?\skey\s+{ty}{}", rest("")), Any, none),
        (
            format!(r"(?:^|\s)pre-shared-key\s+(?:(?:local|remote|ascii-text|hexadecimal)\s+)?{ty}{}", rest("")),
            Any,
            none,
        ),
        // Junos.
        (
            format!(
                r"(?:^|\s)(?:encrypted-password|simple-password|privacy-key|community-name|plain-text-password-value)\s+{}",
                rest("")
            ),
            Any,
            none,
        ),
        (format!(r"(?:^|\s)md5\s+\d+\s+key\s+{}", rest("")), Any, none),
        // tacacs-server [host H …] key, radius-server [host H …] key, server-private H key.
        (
            format!(
                r"^\s*(?:tacacs-server|radius-server|server-private)\s+(?:\S+\s+)*?key\s+{ty}{}",
                rest(SERVER_OPTIONS)
            ),
            Any,
            none,
        ),
        // Huawei hwtacacs-server/radius-server shared-key cipher X.
        (format!(r"(?:^|\s)shared-key\s+(?:(?:cipher|simple)\s+)?{word1}"), Any, none),
        // ` key 7 X` of tacacs server / radius server / XR tacacs-server host / ASA aaa-server.
        (
            format!(r"^\s+(?:pac\s+|isis\s+authentication\s+)?key\s+{ty}{}", rest("level-1|level-2")),
            OutsideKeyChain,
            NOT_KEYS,
        ),
        // HSRP/VRRP plain-text authentication.
        (
            format!(
                r"^\s*(?:(?:standby|vrrp)\s+(?:\d+\s+)?authentication\s+(?:text\s+)?|authentication\s+text\s+){word1}\s*$"
            ),
            Any,
            MD5,
        ),
        (
            format!(
                r"(?:^|\s)(?:isis\s+password|area-password|domain-password|lsp-password|hello-password)\s+(?:(?:hmac-md5|hmac|text|md5|clear|encrypted)\s+)*{word1}"
            ),
            Any,
            none,
        ),
        // Huawei OSPF/IS-IS/RIP: … authentication-mode md5 1 cipher X, simple plain X.
        (format!(r"(?:^|\s)[a-z-]*authentication-mode\s+(?:\S+\s+)*?(?:cipher|plain)\s+{word1}"), Any, none),
        (format!(r"(?:^|\s)[a-z-]*authentication-mode\s+simple\s+{word1}"), Any, CIPHER_WORDS),
        (format!(r"(?:^|\s)pass-phrase\s+(?:(?:cipher|simple)\s+)?{word1}"), Any, none),
        // Junos SNMP communities, braces and set forms.
        (r#"^\s*community\s+(?P<v1>"[^"]*"|[^\s{;]+)\s*[{;]"#.to_owned(), JunosSnmp, none),
        (
            format!(r"^set\s+(?:(?:logical-systems|routing-instances)\s+\S+\s+)*snmp\s+community\s+{word1}"),
            Any,
            none,
        ),
        // enable secret|password, username … password|secret, line and BGP neighbour
        // passwords, XR/Junos `secret`, Huawei `password cipher`, ASA `passwd`.
        (
            format!(r"(?:^|\s)(?:password|secret|passwd)\s+(?:level\s+\d+\s+)?{ty}{}", rest(USER_OPTIONS)),
            Any,
            NOT_PASSWORDS,
        ),
        // key=value files.
        (
            r#"(?i)(?:^|[\s;,])[a-z0-9_.-]*(?:password|passwd|secret|psk|passphrase)[a-z0-9_.-]*\s*=\s*(?P<v1>"[^"]*"|'[^']*'|\S+)"#
                .to_owned(),
            Any,
            none,
        ),
    ]
}

/// Lines that change on every collection without a configuration change.
static VOLATILE: LazyLock<Regex> = LazyLock::new(|| {
    let patterns = [
        r"!+\s*Last configuration change at\b.*",
        r"!+\s*NVRAM config last updated at\b.*",
        r"!+\s*No configuration change since last restart.*",
        r"Building configuration\.\.\..*",
        r"Current configuration\s*:\s*\d+\s*bytes.*",
        r"\s*ntp\s+clock-period\s+\d+",
        r"#+\s*Last (?:commit|changed):.*",
        r"!\s*Software Version\b.*",
        r"!\s*Last configuration was (?:updated|saved) at\b.*",
        r"!\s*Time:.*",
        r"!\s*Running configuration last done at:.*",
        // IOS-XR prints the time first: `Mon Jan  8 10:21:33.123 UTC`.
        r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+\d{1,2}\s+\d{1,2}:\d{2}:\d{2}(?:\.\d+)?(?:\s+\S+)?",
    ];
    Regex::new(&format!("^(?:{})$", patterns.join("|")))
        .expect("the volatile-line pattern compiles")
});

#[cfg(test)]
mod tests;
