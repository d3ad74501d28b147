// Sends the mails of samples/nodemailer-*.log with real Nodemailer, logger and debug on.
//
// Run by samples/make_client_samples.py, which starts the aiosmtpd servers and sets
// NODE_PATH to a scratch npm folder holding nodemailer (and pino for the JSON form):
//   node samples/nodemailer/send_sample.mjs text PLAIN_PORT SMTPS_PORT > nodemailer-debug.log
//   node samples/nodemailer/send_sample.mjs pino PLAIN_PORT SMTPS_PORT > nodemailer-pino.log
// "text" uses Nodemailer's own console logger (logger: true); "pino" passes a pino
// logger, which writes one JSON object per line. Credentials are fake (alice / s3cret!).
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const nodemailer = require("nodemailer");
const [mode, port, smtps] = process.argv.slice(2);

function logger() {
  if (mode !== "pino") return true;
  const pino = require("pino");
  return pino({ level: "trace", base: { app: "sample" } }, pino.destination({ fd: 1, sync: true }));
}

function transport(options) {
  return nodemailer.createTransport({
    host: "127.0.0.1", port: Number(port), name: "app.example.test",
    logger: logger(), debug: true, tls: { rejectUnauthorized: false }, ...options });
}

async function send(label, options, extra = {}) {
  if (mode !== "pino") console.log(`=== case: ${label}`);
  try {
    await transport(options).sendMail({
      from: "alice@example.test", to: "bob@example.test",
      subject: `Nodemailer sample: ${label}`,
      text: `Hello Bob,\nthis is ${label}.\n.a line that starts with a dot\n`, ...extra });
  } catch (err) {
    if (mode !== "pino") console.log(`send failed: ${err.message}`);
  }
}

const alice = { user: "alice", pass: "s3cret!" };
if (mode === "pino") {
  await send("AUTH PLAIN", { auth: alice, authMethod: "PLAIN", ignoreTLS: true });
  await send("AUTH LOGIN, wrong password",
             { auth: { user: "alice", pass: "wrong" }, authMethod: "LOGIN", ignoreTLS: true });
} else {
  await send("AUTH PLAIN", { auth: alice, authMethod: "PLAIN", ignoreTLS: true });
  await send("AUTH LOGIN, wrong password",
             { auth: { user: "alice", pass: "wrong" }, authMethod: "LOGIN", ignoreTLS: true });
  await send("STARTTLS, AUTH LOGIN, attachment", { auth: alice, authMethod: "LOGIN" }, {
    attachments: [{ filename: "report.csv", content: "id,amount\n1,42\n" }] });
  // two transports at once: their lines interleave, told apart by the [sid] tag
  await Promise.all([
    send("interleaved 1", { auth: alice, ignoreTLS: true }),
    send("interleaved 2", { auth: alice, ignoreTLS: true })]);
  await send("implicit TLS", { auth: alice, port: Number(smtps), secure: true });
}
