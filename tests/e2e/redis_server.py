"""A real redis-server for the Redis DEVICE queue tests, started by the test
itself: its own port and directory, AOF on with `appendfsync always` (what
docs/sessions.md requires for "nothing acknowledged is lost"), so that it can
be killed and restarted with its data. Stopped by its PID only."""

import os
import socket
import subprocess

from conftest import free_port, uid, wait_until

REDIS_BIN = os.environ.get("AMQ_REDIS_SERVER_BIN", "/usr/bin/redis-server")


class RedisServer:
    def __init__(self, directory):
        self.dir = str(directory)
        os.makedirs(self.dir, exist_ok=True)
        self.port = None
        self.proc = None

    def start(self, port=None):
        """Starts (or restarts on the same port and directory) and waits for PING."""
        self.port = port or self.port or free_port()
        self.proc = subprocess.Popen(
            [REDIS_BIN, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--appendonly", "yes", "--appendfsync", "always", "--save", "",
             "--logfile", os.path.join(self.dir, "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.ping, 10, what=f"redis-server on port {self.port} to answer PING")
        return self

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self):
        """SIGKILL (the AOF, fsynced per write, keeps every acknowledged write)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def broker_args(self, prefix=None, *extra):
        """Broker flags that put DEVICE queues in this Redis under a fresh key prefix."""
        return ["--set", "storage.device_queue=redis",
                "--set", f"storage.redis.port={self.port}",
                "--set", "storage.redis.host=127.0.0.1",
                "--set", f"storage.redis.key_prefix={prefix or uid('amq')}:",
                "--set", "storage.redis.wait_at_boot_ms=0",
                "--set", "storage.redis.command_timeout_ms=2000", *extra]
