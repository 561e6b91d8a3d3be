// A Node.js HTTPS origin that asks for a client certificate, for the exporter's tests: it refuses
// an untrusted or missing one the way Node.js servers do. Listens on loopback only, prints its
// port on stdout, and exits after --lifetime seconds.
// Flags (all "--name value"):
//   --cert FILE       certificate chain, leaf first (PEM)
//   --key FILE        its private key (PEM)
//   --client-ca FILE  CAs a client certificate must chain to (PEM)
//   --listen ADDR     loopback address (default 127.0.0.1); the port is a free one
//   --mode MODE       reject:  requestCert + rejectUnauthorized: TLS itself refuses the certificate
//                     answer:  rejectUnauthorized false; the app answers 401 (none) or 403
//                              (untrusted) with the words of the Node.js documentation's example
//                     destroy: rejectUnauthorized false; the app destroys the socket on a request
//                              from an unauthorized client (no answer at all)
//   --lifetime SECONDS exit after this long (default 120)
'use strict';
const fs = require('fs');
const https = require('https');
const net = require('net');

const flags = {};
const argv = process.argv.slice(2);
for (let i = 0; i + 1 < argv.length; i += 2) {
  if (!argv[i].startsWith('--')) fail(`expected --flag value, got ${argv[i]}`);
  flags[argv[i].slice(2)] = argv[i + 1];
}
const need = (name) => flags[name] || fail(`--${name} is required`);
const listen = flags.listen || '127.0.0.1';
if (!net.isIP(listen) || !(listen.startsWith('127.') || listen === '::1')) {
  fail('--listen must be a loopback address');
}
const mode = flags.mode || 'reject';
const options = {
  cert: fs.readFileSync(need('cert')),
  key: fs.readFileSync(need('key')),
  ca: fs.readFileSync(need('client-ca')),
  requestCert: true,
  rejectUnauthorized: mode === 'reject',
};

const handlers = {
  reject: (req, res) => res.end('ok\n'),
  answer: (req, res) => {
    if (req.client.authorized) {
      res.end('ok\n');
      return;
    }
    const cert = req.socket.getPeerCertificate();
    if (cert && cert.subject) {
      res.writeHead(403);
      res.end(`Sorry ${cert.subject.CN}, certificates from ${cert.issuer.CN} are not welcome here.`);
    } else {
      res.writeHead(401);
      res.end('Sorry, but you need to provide a client certificate to continue.');
    }
  },
  destroy: (req, res) => {
    if (!req.client.authorized) {
      req.socket.destroy();
      return;
    }
    res.end('ok\n');
  },
};
const handler = handlers[mode] || fail('--mode must be reject, answer or destroy');

const server = https.createServer(options, handler);
server.listen(0, listen, () => {
  process.stdout.write(`${server.address().port}\n`);
});
setTimeout(() => process.exit(0), 1000 * Number(flags.lifetime || 120)).unref();

function fail(why) {
  process.stderr.write(`${why}\n`);
  process.exit(2);
}
