#!/usr/bin/env bash
# Measures what the foundation and files issues ask for, on the release binary:
# cold start to the first answered request, binary size, idle memory, and the time from
# uploading a 10 MiB CSV to the answer about it. Usage: bash scripts/measure-basics.sh
# (builds the release binary first if it is missing). Loopback only; every loop bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/chatbot
[ -x "$BIN" ] || cargo build --release --bin chatbot
DIR=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export DATABASE_URL="sqlite://$DIR/m.db" HOST=127.0.0.1 PORT DEMO_CLIENT=false RUST_LOG=warn OFFLINE_WORD_DELAY_MS=0 JWT_SECRET=measure-basics-secret-at-least-32-bytes-long
trap 'kill $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT

python3 - "$BIN" "$PORT" <<'PY'
import os, subprocess, sys, time, urllib.request
bin, port = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
p = subprocess.Popen([bin, "serve"], stderr=subprocess.DEVNULL)
for _ in range(2000):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            if r.status == 200:
                break
    except Exception:
        time.sleep(0.002)
t1 = time.perf_counter()
print(f"cold start to first answered request (fresh SQLite file, migrations included): {(t1-t0)*1000:.1f} ms")
for _ in range(50):
    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz").read()
time.sleep(2)
rss = [l for l in open(f"/proc/{p.pid}/status") if l.startswith(("VmRSS", "VmHWM"))]
print("idle memory after 50 requests: " + ", ".join(" ".join(l.split()) for l in rss))
p.terminate(); p.wait(10)
PY
printf 'binary size: %s bytes (%s MiB)\n' "$(stat -c %s "$BIN")" "$(python3 -c "print(round($(stat -c %s "$BIN")/1048576,1))")"

"$BIN" serve 2>/dev/null & PID=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.05; done
KEY=$("$BIN" client create --name measure | awk '/secret_key/{print $2}')
python3 - "$PORT" "$KEY" "$DIR" <<'PY'
import json, random, sys, time, urllib.request, uuid
port, key, d = sys.argv[1], sys.argv[2], sys.argv[3]
base = f"http://127.0.0.1:{port}"
random.seed(7)
path = f"{d}/big.csv"
with open(path, "w") as f:
    f.write("id,region,product,units,price,date,active\n")
    i = 0
    while f.tell() < 10 * 1024 * 1024 - 200:
        f.write(f"{i},{random.choice(['North','South','East','West'])},item-{random.randint(1,500)},{random.randint(1,99)},{random.uniform(1,500):.2f},2024-{random.randint(1,12):02d}-{random.randint(1,28):02d},{random.choice(['true','false'])}\n")
        i += 1
data = open(path, "rb").read()
def call(method, url, body=None, ctype="application/json"):
    req = urllib.request.Request(base + url, data=body, method=method, headers={"X-API-Key": key, "Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())
sid = call("POST", "/api/chat/sessions/create", b"{}")["sessionId"]
boundary = uuid.uuid4().hex
body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"sessionId\"\r\n\r\n{sid}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\nContent-Type: text/csv\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
t0 = time.perf_counter()
up = call("POST", "/api/chat/files/upload", body, f"multipart/form-data; boundary={boundary}")
t1 = time.perf_counter()
ans = call("POST", "/api/chat/messages/send", json.dumps({"sessionId": sid, "message": "What is the average price?"}).encode())
t2 = time.perf_counter()
print(f"10 MiB CSV ({len(data)} bytes, {up['file']['rows']} rows): upload {1000*(t1-t0):.0f} ms, then answer {1000*(t2-t1):.0f} ms, upload-to-answer {1000*(t2-t0):.0f} ms")
print("answer:", ans["response"][-90:])
PY
