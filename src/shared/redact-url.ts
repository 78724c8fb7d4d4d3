/** The URL without its password (in the user part, or a `password` parameter), fit for a log line or an error message. */
export function redactUrl (url: string): string {
  const parsed = new URL(url)
  if (parsed.password) parsed.password = '***'
  if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***')
  return parsed.toString()
}
