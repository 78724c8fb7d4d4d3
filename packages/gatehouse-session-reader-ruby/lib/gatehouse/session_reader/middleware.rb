# frozen_string_literal: true

module Gatehouse
  module SessionReader
    # Rack middleware: the caller's live session in env['gatehouse.session'], or the answer
    # Gatehouse would give (401/403/503), and the app is not called.
    #
    #   use Gatehouse::SessionReader::Middleware, reader: reader
    class Middleware
      ENV_KEY = 'gatehouse.session'

      # Options as Authenticator's (reader:, cookie:, audience_header:, on_fault:).
      def initialize(app, **options)
        @app = app
        @authenticator = Authenticator.new(**options)
      end

      def call(env)
        outcome = @authenticator.call(env)
        return outcome.answer.to_rack unless outcome.ok?

        env[ENV_KEY] = outcome.session
        status, headers, body = @app.call(env)
        # An answer that depends on who is asking must never be cached for another.
        headers['cache-control'] = 'no-store' unless headers.key?('cache-control') || headers.key?('Cache-Control')
        [status, headers, body]
      end
    end
  end
end
