# frozen_string_literal: true

require 'json'

module Gatehouse
  module SessionReader
    # The HTTP answers Gatehouse gives, word for word (packages/session-reader/src/answers.ts), so a
    # Ruby service answers exactly as Gatehouse and the Node services do.
    module Answers
      AUTH_CHALLENGE = 'Token realm="Application"'
      RETRY_AFTER_SECONDS = 5

      # Failures say only "missing", "invalid" or "expired": never which check failed.
      AUTH_MESSAGES = {
        'missing_token' => 'Authentication required: send Authorization: Token token=<token>',
        'invalid_token' => 'The token is invalid',
        'session_expired' => 'The session has expired or was ended; log in again'
      }.freeze

      # status, headers (lower-case names: Rack 3 requires them, Rack 2 accepts them), body Hash.
      Answer = Struct.new(:status, :headers, :body) do
        # A Rack response triple.
        def to_rack
          text = JSON.generate(body)
          [status, headers.merge('content-type' => 'application/json; charset=utf-8', 'content-length' => text.bytesize.to_s), [text]]
        end
      end

      module_function

      def unauthorized(failure)
        failure = failure.to_s
        raise ArgumentError, "unknown failure #{failure}" unless AUTH_MESSAGES.key?(failure)

        Answer.new(401, { 'cache-control' => 'no-store', 'www-authenticate' => AUTH_CHALLENGE },
                   { 'error' => failure, 'message' => AUTH_MESSAGES[failure] })
      end

      def unavailable(dependency)
        Answer.new(503, { 'cache-control' => 'no-store', 'retry-after' => RETRY_AFTER_SECONDS.to_s },
                   { 'error' => 'service_unavailable',
                     'message' => "The service is temporarily unavailable (#{dependency}); try again shortly" })
      end

      def csrf_rejected(why)
        Answer.new(403, { 'cache-control' => 'no-store' },
                   { 'error' => 'csrf_rejected', 'message' => "Cross-site request refused: #{why}" })
      end
    end
  end
end
