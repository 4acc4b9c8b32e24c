// UserError: a problem with the user's input (flag, file, config), reported as one clear line.
// The CLI prints its message without a stack trace and exits with code 2.

export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}
