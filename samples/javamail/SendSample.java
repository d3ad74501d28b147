// Sends the mails of samples/javamail-debug.log with real Jakarta Mail, debug on.
//
// Run by samples/make_client_samples.py (which starts the aiosmtpd servers it talks to):
//   javac -cp /usr/share/java/jakarta-mail.jar:/usr/share/java/jakarta-activation.jar \
//         -d /tmp/javamail-build samples/javamail/SendSample.java
//   java -cp /tmp/javamail-build:... SendSample PLAIN_PORT SMTPS_PORT > javamail-debug.log
// Each case makes its own Session (so the log shows one "trying to connect" per case)
// and writes the library's debug output, and any exception, to standard output, as a
// program with mail.debug=true does. Credentials are fake (alice / s3cret!).
import jakarta.activation.DataHandler;
import jakarta.mail.Message;
import jakarta.mail.MessagingException;
import jakarta.mail.Session;
import jakarta.mail.Transport;
import jakarta.mail.internet.InternetAddress;
import jakarta.mail.internet.MimeBodyPart;
import jakarta.mail.internet.MimeMessage;
import jakarta.mail.internet.MimeMultipart;
import jakarta.mail.util.ByteArrayDataSource;
import java.util.Properties;

public final class SendSample {
    private SendSample() {}

    private static Properties base(int port) {
        Properties p = new Properties();
        p.put("mail.smtp.host", "127.0.0.1");
        p.put("mail.smtp.port", Integer.toString(port));
        p.put("mail.smtp.localhost", "app.example.test");
        p.put("mail.smtp.auth", "true");
        p.put("mail.debug", "true");
        return p;
    }

    private static void send(String label, Properties p, String user, String password,
                             boolean attachment) {
        System.out.println("=== case: " + label);
        Session session = Session.getInstance(p);
        session.setDebugOut(System.out);
        try {
            MimeMessage msg = new MimeMessage(session);
            msg.setFrom(new InternetAddress("alice@example.test"));
            msg.setRecipient(Message.RecipientType.TO, new InternetAddress("bob@example.test"));
            msg.setSubject("JavaMail sample: " + label);
            if (attachment) {
                MimeMultipart mp = new MimeMultipart();
                MimeBodyPart text = new MimeBodyPart();
                text.setText("See the attached file.\n.a line that starts with a dot\n");
                mp.addBodyPart(text);
                MimeBodyPart file = new MimeBodyPart();
                file.setDataHandler(new DataHandler(new ByteArrayDataSource(
                        "id,amount\n1,42\n".getBytes(), "text/csv")));
                file.setFileName("report.csv");
                mp.addBodyPart(file);
                msg.setContent(mp);
            } else {
                msg.setText("Hello Bob,\nthis is " + label + ".\n");
            }
            Transport.send(msg, user, password);
        } catch (MessagingException e) {
            e.printStackTrace(System.out);
        }
        System.out.flush();
    }

    public static void main(String[] args) {
        int port = Integer.parseInt(args[0]);
        int smtps = Integer.parseInt(args[1]);

        Properties login = base(port);
        login.put("mail.smtp.auth.mechanisms", "LOGIN");
        login.put("mail.debug.auth", "true");  // show the AUTH exchange (base64)
        send("AUTH LOGIN, mail.debug.auth=true", login, "alice", "s3cret!", false);

        Properties plain = base(port);
        plain.put("mail.smtp.auth.mechanisms", "PLAIN");  // auth trace suppressed (default)
        send("AUTH PLAIN, trace suppressed", plain, "alice", "s3cret!", true);

        Properties wrong = base(port);
        wrong.put("mail.smtp.auth.mechanisms", "LOGIN");
        send("AUTH LOGIN, wrong password", wrong, "alice", "wrong-password", false);

        Properties tls = base(port);
        tls.put("mail.smtp.starttls.enable", "true");
        tls.put("mail.smtp.starttls.required", "true");
        tls.put("mail.smtp.ssl.trust", "*");
        tls.put("mail.debug.auth", "true");
        send("STARTTLS then AUTH (default mechanisms)", tls, "alice", "s3cret!", false);

        Properties ssl = base(smtps);
        ssl.put("mail.smtp.ssl.enable", "true");
        ssl.put("mail.smtp.ssl.trust", "*");
        send("implicit TLS (isSSL true)", ssl, "alice", "s3cret!", false);
    }
}
