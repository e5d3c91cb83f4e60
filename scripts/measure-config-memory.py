#!/usr/bin/env python3
"""Issue 13's session-config memory finding, measured: start the binary on a fresh SQLite
file, make SESSIONS sessions with the publishable key and a config of CONFIG_KB each (as a
visitor would, with the page's Origin), and print the server's RSS before and after and its
peak. Usage: python3 scripts/measure-config-memory.py BIN [SESSIONS] [CONFIG_KB] [THREADS].
Loopback only; every loop bounded."""
import concurrent.futures, json, os, re, socket, subprocess, sys, tempfile, time, urllib.request

bin = sys.argv[1]
sessions = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
config_kb = int(sys.argv[3]) if len(sys.argv) > 3 else 900
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 8
ORIGIN = "https://shop.example"

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0

d = tempfile.mkdtemp()
port = free_port()
env = dict(os.environ, DATABASE_URL=f"sqlite://{d}/m.db", HOST="127.0.0.1", PORT=str(port),
           DEMO_CLIENT="false", RUST_LOG="warn", RATE_LIMIT_PER_MINUTE="10000000",
           RATE_LIMIT_PUBLISHABLE_PER_MINUTE="10000000",
           JWT_SECRET="measure-config-memory-secret-32-bytes-long")
out = subprocess.run([bin, "client", "create", "--name", "m", "--origin", ORIGIN], env=env,
                     capture_output=True, text=True, check=True).stdout
pk = re.search(r"cb_pk_[A-Za-z0-9_-]+", out).group(0)
p = subprocess.Popen([bin, "serve"], env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
try:
    for _ in range(2000):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read(); break
        except Exception:
            time.sleep(0.005)
    body = json.dumps({"config": {"pageContext": {"url": "https://shop.example/p", "title": "P",
                       "content": "x" * (config_kb * 1024 - 100)}}}).encode()

    def create(_):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/chat/sessions/create", data=body,
                                     headers={"Content-Type": "application/json", "X-API-Key": pk,
                                              "Origin": ORIGIN}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    rss0 = status_kb(p.pid, "VmRSS")
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        codes = list(ex.map(create, range(sessions)))
    dt = time.perf_counter() - t0
    time.sleep(0.5)  # let the allocator settle before reading RSS (a reading, not a wait for a result)
    rss1 = status_kb(p.pid, "VmRSS")
    hwm = status_kb(p.pid, "VmHWM")
    db = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    summary = {c: codes.count(c) for c in sorted(set(codes))}
    print(f"{os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(bin))))}: {sessions} sessions x {config_kb} KB config, "
          f"answers {summary} in {dt:.1f} s; RSS {rss0/1024:.0f} MB -> {rss1/1024:.0f} MB (peak {hwm/1024:.0f} MB); "
          f"database files {db/1024/1024:.0f} MB")
finally:
    p.terminate(); p.wait()
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    os.rmdir(d)
