import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { signUp } from '../helpers/http.js'

// A wrong password and an unknown email must take the same time, or login answers whether an
// account exists. Measured side by side (alternating, so machine noise hits both alike) at a
// real cost, and compared as distributions: a clear gap fails, noise does not.

const SAMPLES = 40

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

t.test('an unknown email and a wrong password take the same time', async (t) => {
  const ctx = await buildTestApp(t, { BCRYPT_COST: '10' })
  const known = ctx.email()
  await signUp(ctx.app, known)
  const time = async (email: string) => {
    const started = process.hrtime.bigint()
    const res = await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email, password: 'not the password' } })
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    t.equal(res.statusCode, 401)
    return ms
  }
  await time(known) // warm up: threads, connections, JIT
  const wrongPassword: number[] = []
  const unknownEmail: number[] = []
  for (let i = 0; i < SAMPLES; i++) {
    wrongPassword.push(await time(known))
    unknownEmail.push(await time(ctx.email()))
  }
  wrongPassword.sort((a, b) => a - b)
  unknownEmail.sort((a, b) => a - b)
  const [w25, w50, w75] = [0.25, 0.5, 0.75].map((q) => quantile(wrongPassword, q))
  const [u25, u50, u75] = [0.25, 0.5, 0.75].map((q) => quantile(unknownEmail, q))
  const summary = `wrong password p25/p50/p75 ${w25!.toFixed(1)}/${w50!.toFixed(1)}/${w75!.toFixed(1)} ms, unknown email ${u25!.toFixed(1)}/${u50!.toFixed(1)}/${u75!.toFixed(1)} ms`
  t.ok(u50! / w50! > 0.8 && u50! / w50! < 1.25, `medians within 20%: ratio ${(u50! / w50!).toFixed(3)} (${summary})`)
  t.ok(u25! / w25! > 0.8 && u25! / w25! < 1.25, `fast quartiles within 20% too: ratio ${(u25! / w25!).toFixed(3)}`)
})
