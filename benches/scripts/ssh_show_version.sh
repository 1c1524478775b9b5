#!/usr/bin/env bash
# Issue 15 benchmark: `show version` from N fake devices through SOTP's SSH runner and
# through netmiko, against one OpenSSH server playing a Cisco IOS CLI
# (tests/it/ssh/fake_cli.py, the integration tests' fake device). Each device is one
# session of that server. Needs openssh-server (scripts/setup-peers.sh); installs netmiko
# into the peers' venv when missing.
#
#   benches/scripts/ssh_show_version.sh start DIR   # starts sshd, writes DIR/env
#   . DIR/env; target/release/ssh_show_version --port $PORT --user $SSH_USER --key $KEY --host-key $FP
#   . DIR/env; $PY benches/scripts/netmiko_show_version.py --port $PORT --user $SSH_USER --key $KEY
#   benches/scripts/ssh_show_version.sh stop DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
cmd=${1:?start or stop}
dir=${2:?a directory}
case "$cmd" in
stop)
  [ -f "$dir/sshd.pid" ] && kill "$(cat "$dir/sshd.pid")" 2>/dev/null || true
  exit 0
  ;;
start) ;;
*) echo "start or stop" >&2; exit 2 ;;
esac
[ -x /usr/sbin/sshd ] || { echo "no /usr/sbin/sshd: run scripts/setup-peers.sh" >&2; exit 1; }
venv=${SOTP_VENV:-$PWD/target/py-venv}
if ! "$venv/bin/python" -c 'import netmiko' >/dev/null 2>&1; then
  "$venv/bin/pip" install -q --disable-pip-version-check 'netmiko>=4,<5'
fi
mkdir -p "$dir" /run/sshd
dir=$(cd "$dir" && pwd)
rm -f "$dir"/host "$dir"/host.pub "$dir"/client "$dir"/client.pub
ssh-keygen -q -t ed25519 -N "" -f "$dir/host"
ssh-keygen -q -t ed25519 -N "" -f "$dir/client"
cp "$dir/client.pub" "$dir/authorized_keys"
version=$(ls "${SOTP_CORPORA:-$PWD/../shared/corpora}"/ntc/cisco_xr/show_version/*.raw | head -1)
printf '{"hostname": "r1", "prompt": "r1#", "outputs": {"show version": "%s"}, "paging": true}\n' "$version" > "$dir/device.json"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$dir/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
PermitRootLogin yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
PrintLastLog no
MaxSessions 1000
MaxStartups 1000:30:2000
# bash reads no ~/.bashrc for the forced command at shell level 2 (an rc file that runs
# a tool per session would be measured as the device's time; tests/it/ssh/peer.rs).
SetEnv SHLVL=1
ForceCommand /usr/bin/python3 $PWD/tests/it/ssh/fake_cli.py $dir/record.jsonl $dir/device.json
CONF
/usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
  sleep 0.1
done
fp=$(ssh-keygen -l -f "$dir/host.pub" | awk '{print $2}')
cat > "$dir/env" <<ENV
PORT=$port
SSH_USER=$(id -un)
KEY=$dir/client
FP=$fp
PY=$venv/bin/python
ENV
echo "sshd on 127.0.0.1:$port; . $dir/env"
