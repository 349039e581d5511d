/**
 * What the person logging in sees. The default writes to stderr, so stdout
 * stays free for the token (`TOKEN=$(ts-oidc-auth token)`).
 */

export interface DevicePrompt {
  user_code: string;
  verification_uri: string;
  /** The verification URI with the code filled in, when the server gives one. */
  verification_uri_complete: string | undefined;
  /** When the code expires, unix milliseconds. */
  expiresAt: number;
}

export interface WaitStatus {
  /** Seconds between two polls, as the server asks (it grows on `slow_down`); 0 when not polling. */
  interval: number;
  /** When the wait gives up, unix milliseconds. */
  deadline: number;
}

export interface LoginReporter {
  /** The device flow started: say where to confirm which code. */
  deviceCode(prompt: DevicePrompt): void;
  /** The browser login starts at this URL (opened in a browser, or to be opened by hand). */
  browserLogin(url: string, opened: boolean): void;
  /** The client is waiting for the person; called before every wait. */
  waiting(status: WaitStatus): void;
  /** The wait is over, whatever its outcome. */
  stopped(): void;
}

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** The default reporter: instructions on stderr, a spinner on a terminal, dots elsewhere. */
export function stderrReporter(stream: NodeJS.WriteStream = process.stderr): LoginReporter {
  let timer: NodeJS.Timeout | undefined;
  let status: WaitStatus | undefined;
  let frame = 0;
  const write = (text: string) => stream.write(text);
  const draw = () => {
    if (!status) return;
    const left = Math.max(0, Math.round((status.deadline - Date.now()) / 1000));
    const spinner = FRAMES[frame++ % FRAMES.length] ?? "-";
    write(`\r\x1b[2K${spinner} Waiting for the login to be confirmed… ${clock(left)} left`);
  };
  return {
    deviceCode(prompt) {
      const direct = prompt.verification_uri_complete;
      write(
        direct
          ? `To log in, open\n\n  ${direct}\n\nand check that it shows the code ${prompt.user_code}.\n`
          : `To log in, open\n\n  ${prompt.verification_uri}\n\nand enter the code ${prompt.user_code}.\n`,
      );
    },
    browserLogin(url, opened) {
      write(
        opened
          ? `Your browser was opened to log in. If it did not open, visit:\n\n  ${url}\n\n`
          : `Open this URL in a browser on this machine to log in:\n\n  ${url}\n\n`,
      );
    },
    waiting(next) {
      const first = status === undefined;
      status = next;
      if (!stream.isTTY) {
        const every = next.interval > 0 ? ` (checking every ${next.interval} s)` : "";
        write(first ? `Waiting for the login to be confirmed${every}` : ".");
        return;
      }
      timer ??= setInterval(draw, 120).unref();
      draw();
    },
    stopped() {
      if (timer) clearInterval(timer);
      if (status) write(stream.isTTY ? "\r\x1b[2K" : "\n");
      timer = undefined;
      status = undefined;
    },
  };
}

/** A reporter that shows nothing (for programs that handle the prompts themselves). */
export function silentReporter(overrides: Partial<LoginReporter> = {}): LoginReporter {
  return {
    deviceCode: () => {},
    browserLogin: () => {},
    waiting: () => {},
    stopped: () => {},
    ...overrides,
  };
}

function clock(seconds: number): string {
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}
