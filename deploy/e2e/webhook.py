#!/usr/bin/env python3
"""Alertmanager webhook receiver for the e2e test: appends every notification (one JSON object
per line) to FILE. Usage: webhook.py 127.0.0.1 PORT FILE"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            doc = json.loads(body)
        except json.JSONDecodeError:
            self.send_response(400)
            self.end_headers()
            return
        with open(sys.argv[3], "a") as f:
            f.write(json.dumps(doc) + "\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
