"""A stand-in for the Hugging Face hub: a small HTTP server on 127.0.0.1,
in a thread, that answers huggingface_hub's file requests
(`HEAD`/`GET {endpoint}/{repo_id}/resolve/{revision}/{filename}`) the way
the hub does: `X-Repo-Commit`, `ETag` and `Content-Length` headers, and
404s with the hub's `X-Error-Code` (RepoNotFound, RevisionNotFound,
EntryNotFound). Every request is logged as (method, repo_id, revision,
filename)."""

import hashlib
import http.server
import threading
import urllib.parse


class FakeHub:
    def __init__(self):
        self.repos = {}  # {repo_id: {revision: {filename: bytes}}}
        self.log = []
        self._server = None
        self._thread = None

    def add(self, repo_id, files, revision="main"):
        """Serves {filename: bytes} as `repo_id` at `revision`."""
        self.repos.setdefault(repo_id, {})[revision] = dict(files)

    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def requests(self, filename=None):
        """The logged requests for files of repositories (huggingface_hub
        may make others), all or those of `filename`."""
        return [r for r in self.log if r[1] is not None
                and (filename is None or r[3] == filename)]

    def start(self):
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = 10

            def log_message(self, *args):  # quiet
                pass

            def _answer(self, body):
                parts = urllib.parse.urlsplit(self.path).path.split("/")
                # "", org, name, "resolve", revision, filename...
                if len(parts) < 6 or parts[3] != "resolve":
                    hub.log.append((self.command, None, None, self.path))
                    return self._error(404, "RepoNotFound")
                repo_id = f"{parts[1]}/{parts[2]}"
                revision = urllib.parse.unquote(parts[4])
                filename = urllib.parse.unquote("/".join(parts[5:]))
                hub.log.append((self.command, repo_id, revision, filename))
                if repo_id not in hub.repos:
                    return self._error(404, "RepoNotFound")
                revisions = hub.repos[repo_id]
                if revision not in revisions:
                    return self._error(404, "RevisionNotFound")
                files = revisions[revision]
                if filename not in files:
                    return self._error(404, "EntryNotFound")
                data = files[filename]
                commit = hashlib.sha1(
                    f"{repo_id}@{revision}".encode()).hexdigest()
                self.send_response(200)
                self.send_header("X-Repo-Commit", commit)
                self.send_header("ETag",
                                 f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def _error(self, status, code):
                message = f"{code}: {self.path}".encode()
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", code)
                self.send_header("Content-Length", str(len(message)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(message)

            def do_HEAD(self):
                self._answer(body=False)

            def do_GET(self):
                self._answer(body=True)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                       Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = None
