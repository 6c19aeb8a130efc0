"""Read a network-config (version 2) with cloud-init's own parser: for cloud-init versions
whose `cloud-init schema` has no `--schema-type network-config` (Debian 12: 22.4).

Run with the Python that cloud-init runs with. Exits non-zero (with cloud-init's error) when
the parser rejects the file. Prints interface names only, never their settings.

That parser has no WiFi support (on Ubuntu, cloud-init hands a version 2 file to netplan
as it is), so each `wifis:` entry is checked in two parts: its addressing (dhcp4, addresses,
routes, nameservers) goes through the parser as if it were an ethernet, and its WiFi keys
must be the ones this project writes (access-points with a password, regulatory-domain).
"""

import re
import sys

import yaml
from cloudinit.net.network_state import parse_net_config_data

WIFI_KEYS = {"access-points", "regulatory-domain"}

with open(sys.argv[1]) as f:
    config = yaml.safe_load(f)
if not isinstance(config, dict) or config.get("version") != 2:
    sys.exit("network-config: expected a mapping with 'version: 2'")
ethernets = dict(config.get("ethernets") or {})
for name, wifi in (config.get("wifis") or {}).items():
    if name in ethernets:
        sys.exit(f"network-config: {name} is both an ethernet and a wifi")
    points = wifi.get("access-points")
    if not isinstance(points, dict) or not points:
        sys.exit(f"network-config: wifis.{name}: access-points must name at least one SSID")
    for ssid, point in points.items():
        if not isinstance(ssid, str) or not 1 <= len(ssid.encode()) <= 32:
            sys.exit(f"network-config: wifis.{name}: an SSID must be 1-32 bytes")
        if set(point) != {"password"} or not isinstance(point["password"], str):
            sys.exit(f"network-config: wifis.{name}: each access point needs a password only")
    domain = wifi.get("regulatory-domain")
    if domain is not None and not re.fullmatch(r"[A-Z]{2}|00", str(domain)):
        sys.exit(f"network-config: wifis.{name}: regulatory-domain must be a country code")
    ethernets[name] = {k: v for k, v in wifi.items() if k not in WIFI_KEYS}
wired = {"version": 2, "ethernets": ethernets}
state = parse_net_config_data(wired, skip_broken=False)
names = sorted(iface["name"] for iface in state.iter_interfaces())
print("interfaces:", " ".join(names))
