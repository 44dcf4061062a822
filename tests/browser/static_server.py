#!/usr/bin/env python3
"""A plain static file server (Python's http.server: no range requests)
that adds the headers of DIR/_headers to every response, as a static host
or CDN configured that way would. Prints the URL, serves until killed.

    static_server.py DIR [--no-headers]
"""
import http.server
import os
import sys


def headers_of(root):
    out = []
    try:
        with open(os.path.join(root, "_headers")) as f:
            for line in f:
                if line.startswith((" ", "\t")) and ":" in line:
                    k, v = line.strip().split(":", 1)
                    out.append((k.strip(), v.strip()))
    except FileNotFoundError:
        pass
    return out


def main():
    root = sys.argv[1]
    extra = [] if "--no-headers" in sys.argv else headers_of(root)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=root, **kw)

        def end_headers(self):
            for k, v in extra:
                self.send_header(k, v)
            super().end_headers()

        def log_message(self, *a):
            pass

    Handler.extensions_map[".mjs"] = "text/javascript"
    Handler.extensions_map[".wasm"] = "application/wasm"
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"http://localhost:{srv.server_address[1]}/", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
