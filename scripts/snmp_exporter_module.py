"""Writes a prometheus-snmp-exporter 0.21 module file (auth inside each module) walking the
IF-MIB columns that SOTP's SNMP poller reads, for the SNMP benchmarks
(scripts/bench-snmp-poll.sh, scripts/bench-snmp-slow.sh).

Usage: snmp_exporter_module.py OUT TIMEOUT NAME=COMMUNITY [NAME=COMMUNITY ...]
"""
import sys

METRICS = {
    "ifHCInOctets": "1.3.6.1.2.1.31.1.1.1.6", "ifHCOutOctets": "1.3.6.1.2.1.31.1.1.1.10",
    "ifHCInUcastPkts": "1.3.6.1.2.1.31.1.1.1.7", "ifHCOutUcastPkts": "1.3.6.1.2.1.31.1.1.1.11",
    "ifInDiscards": "1.3.6.1.2.1.2.2.1.13", "ifInErrors": "1.3.6.1.2.1.2.2.1.14",
    "ifOutDiscards": "1.3.6.1.2.1.2.2.1.19", "ifOutErrors": "1.3.6.1.2.1.2.2.1.20",
    "ifAdminStatus": "1.3.6.1.2.1.2.2.1.7", "ifOperStatus": "1.3.6.1.2.1.2.2.1.8",
    "ifSpeed": "1.3.6.1.2.1.2.2.1.5", "ifHighSpeed": "1.3.6.1.2.1.31.1.1.1.15",
}
LOOKUPS = {"ifName": "1.3.6.1.2.1.31.1.1.1.1", "ifDescr": "1.3.6.1.2.1.2.2.1.2", "ifAlias": "1.3.6.1.2.1.31.1.1.1.18"}
COUNTER_WORDS = ("Octets", "Pkts", "Errors", "Discards")


def module(name, community, timeout):
    out = [f"{name}:", "  version: 2", "  auth:", f"    community: {community}",
           "  max_repetitions: 25", "  retries: 1", f"  timeout: {timeout}", "  walk:"]
    out += [f"  - {o}" for o in list(METRICS.values()) + list(LOOKUPS.values())]
    out.append("  metrics:")
    for m, o in METRICS.items():
        kind = "counter" if any(w in m for w in COUNTER_WORDS) else "gauge"
        out += [f"  - name: {m}", f"    oid: {o}", f"    type: {kind}", "    indexes:",
                "    - labelname: ifIndex", "      type: gauge", "    lookups:"]
        for ln, lo in LOOKUPS.items():
            out += ["    - labels: [ifIndex]", f"      labelname: {ln}", f"      oid: {lo}",
                    "      type: DisplayString"]
    return out


def main():
    path, timeout, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
    if not pairs:
        sys.exit(__doc__)
    out = []
    for pair in pairs:
        name, community = pair.split("=", 1)
        out += module(name, community, timeout)
    open(path, "w").write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
