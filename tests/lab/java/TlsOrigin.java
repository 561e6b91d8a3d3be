// A TLS origin on Java's JSSE for the exporter's tests: serves HTTP over TLS with the given
// certificate, with the protocol versions, cipher suites and client-certificate mode asked for.
// Listens on loopback only, prints its port on stdout, and exits after -lifetime seconds.
// Flags (all "-name value"):
//   -cert FILE        certificate chain, leaf first (PEM)
//   -key FILE         the leaf's private key (PEM, PKCS#8: EC or RSA)
//   -listen ADDR:PORT loopback address and port (default 127.0.0.1:0, a free port)
//   -protocols LIST   enabled versions, JSSE names, comma-separated (default TLSv1.2,TLSv1.3);
//                     TLSv1 and TLSv1.1 are re-enabled in jdk.tls.disabledAlgorithms when listed
//   -ciphers LIST     enabled suites, JSSE names, comma-separated (default: JSSE's)
//   -client-auth MODE none, want (ask, go on without one) or need (ask, refuse without one)
//   -client-ca FILE   CAs a client certificate must chain to (PEM); without it, any presented
//                     certificate is refused (JSSE, with no trust anchor, sends internal_error)
//   -status CODE      HTTP status of every answer (default 200)
//   -lifetime SECONDS exit after this long (default 120)
import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Security;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;

public final class TlsOrigin {
    public static void main(String[] args) throws Exception {
        Map<String, String> flags = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("-")) {
                fail("expected -flag value, got " + args[i]);
            }
            flags.put(args[i].substring(1), args[i + 1]);
        }
        List<String> protocols = list(flags.getOrDefault("protocols", "TLSv1.2,TLSv1.3"));
        if (protocols.contains("TLSv1") || protocols.contains("TLSv1.1")) {
            // JDK 16+ disables TLS 1.0 and 1.1 in java.security; an old server re-enables them.
            String disabled = Security.getProperty("jdk.tls.disabledAlgorithms");
            String kept = Arrays.stream(disabled == null ? new String[0] : disabled.split(","))
                    .map(String::trim)
                    .filter(a -> !a.equals("TLSv1") && !a.equals("TLSv1.1"))
                    .collect(Collectors.joining(", "));
            Security.setProperty("jdk.tls.disabledAlgorithms", kept);
        }
        String listen = flags.getOrDefault("listen", "127.0.0.1:0");
        int colon = listen.lastIndexOf(':');
        if (colon < 0) {
            fail("-listen must be ADDRESS:PORT");
        }
        InetAddress host = InetAddress.getByName(listen.substring(0, colon).replaceAll("[\\[\\]]", ""));
        if (!host.isLoopbackAddress()) {
            fail("-listen must be a loopback address");
        }
        int port = Integer.parseInt(listen.substring(colon + 1));

        char[] pass = "lab".toCharArray();
        KeyStore identity = KeyStore.getInstance("PKCS12");
        identity.load(null, null);
        Certificate[] chain = certificates(need(flags, "cert")).toArray(new Certificate[0]);
        identity.setKeyEntry("origin", privateKey(need(flags, "key")), pass, chain);
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(identity, pass);

        TrustManager[] trust = null;
        String clientCa = flags.get("client-ca");
        KeyStore cas = KeyStore.getInstance("PKCS12");
        cas.load(null, null);
        if (clientCa != null) {
            int n = 0;
            for (Certificate c : certificates(clientCa)) {
                cas.setCertificateEntry("ca" + n++, c);
            }
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(cas);
        trust = tmf.getTrustManagers();

        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), trust, null);
        SSLServerSocket server = (SSLServerSocket) ctx.getServerSocketFactory().createServerSocket();
        server.bind(new InetSocketAddress(host, port), 128);
        server.setEnabledProtocols(protocols.toArray(new String[0]));
        if (flags.containsKey("ciphers")) {
            server.setEnabledCipherSuites(list(flags.get("ciphers")).toArray(new String[0]));
        }
        switch (flags.getOrDefault("client-auth", "none")) {
            case "none":
                break;
            case "want":
                server.setWantClientAuth(true);
                break;
            case "need":
                server.setNeedClientAuth(true);
                break;
            default:
                fail("-client-auth must be none, want or need");
        }
        int status = Integer.parseInt(flags.getOrDefault("status", "200"));
        long lifetime = Long.parseLong(flags.getOrDefault("lifetime", "120"));

        System.out.println(server.getLocalPort());
        System.out.flush();
        Thread exit = new Thread(() -> {
            try {
                Thread.sleep(lifetime * 1000);
            } catch (InterruptedException e) {
                // exits anyway
            }
            System.exit(0);
        });
        exit.setDaemon(true);
        exit.start();
        while (true) {
            SSLSocket socket = (SSLSocket) server.accept();
            Thread t = new Thread(() -> answer(socket, status));
            t.setDaemon(true);
            t.start();
        }
    }

    /** Finishes the handshake, reads one request head and answers it with `status`. */
    private static void answer(SSLSocket socket, int status) {
        try (SSLSocket s = socket) {
            s.setSoTimeout(10_000);
            s.startHandshake();
            InputStream in = s.getInputStream();
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            int b;
            while ((b = in.read()) >= 0 && head.size() < 16384) {
                head.write(b);
                if (head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
                    break;
                }
            }
            OutputStream out = s.getOutputStream();
            // 204 and 304 carry no body.
            String body = status == 204 || status == 304 ? "" : "ok\n";
            out.write(("HTTP/1.1 " + status + " Lab\r\nContent-Type: text/plain\r\nContent-Length: "
                    + body.length() + "\r\nConnection: close\r\n\r\n" + body)
                    .getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
        } catch (IOException e) {
            // A refused or broken handshake: the client sees the alert or the close.
        }
    }

    private static List<String> list(String csv) {
        List<String> out = new ArrayList<>();
        for (String s : csv.split(",")) {
            if (!s.isBlank()) {
                out.add(s.trim());
            }
        }
        return out;
    }

    private static String need(Map<String, String> flags, String name) {
        String v = flags.get(name);
        if (v == null) {
            fail("-" + name + " is required");
        }
        return v;
    }

    private static Collection<? extends Certificate> certificates(String file) throws Exception {
        try (InputStream in = new FileInputStream(file)) {
            return CertificateFactory.getInstance("X.509").generateCertificates(in);
        }
    }

    private static PrivateKey privateKey(String file) throws Exception {
        String pem = new String(Files.readAllBytes(Paths.get(file)), StandardCharsets.US_ASCII);
        if (!pem.contains("-----BEGIN PRIVATE KEY-----")) {
            fail(file + ": expected a PKCS#8 key (BEGIN PRIVATE KEY)");
        }
        String base64 = pem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(Base64.getDecoder().decode(base64));
        for (String algorithm : new String[] {"EC", "RSA"}) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(spec);
            } catch (java.security.spec.InvalidKeySpecException e) {
                // try the next algorithm
            }
        }
        fail(file + ": neither an EC nor an RSA key");
        return null;
    }

    private static void fail(String why) {
        System.err.println(why);
        System.exit(2);
    }
}
