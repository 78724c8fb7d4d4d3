// Runs once before the suite (.taprc `before`): creates and migrates the test database.
import { migrate } from '../../src/db/migrate.js'
import { TEST_DATABASE_URL } from '../helpers/db.js'

await migrate(TEST_DATABASE_URL)
