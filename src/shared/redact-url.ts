/** The URL without its password, fit for a log line or an error message. */
export function redactUrl (url: string): string {
  const parsed = new URL(url)
  if (parsed.password) parsed.password = '***'
  return parsed.toString()
}
