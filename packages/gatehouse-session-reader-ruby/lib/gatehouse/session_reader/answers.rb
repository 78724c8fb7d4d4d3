# frozen_string_literal: true

require 'json'

module Gatehouse
  module SessionReader
    # Why a session ended, told beside session_expired so an app can say it (the Node library's
    # ENDED_REASONS): unused within its idle window, past its absolute end, this session's own
    # logout, or ended by someone or something else.
    ENDED_REASONS = %w[idle max_age logged_out revoked].freeze
    # What revoked a session, where it is known; a value stored in Redis that is not one of these
    # is no cause.
    REVOKED_CAUSES = %w[signed_out_elsewhere password_changed password_reset role_changed admin session_limit
                        account_deleted client_ended].freeze

    # The HTTP answers Gatehouse gives, word for word (packages/session-reader/src/answers.ts), so a
    # Ruby service answers exactly as Gatehouse and the Node services do.
    module Answers
      AUTH_CHALLENGE = 'Token realm="Application"'
      BEARER = /\Abearer(?:\s|\z)/i
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

      # The challenge for a caller that sent `authorization`: one that used Bearer gets a Bearer
      # challenge, with error="invalid_token" when its token was refused (RFC 6750 §3; none when it
      # sent no token); every other caller gets Rails' Token realm="Application".
      def challenge_for(authorization, failure)
        return AUTH_CHALLENGE if authorization.nil? || !BEARER.match?(authorization)

        %w[invalid_token session_expired].include?(failure.to_s) ? 'Bearer realm="Application", error="invalid_token"' : 'Bearer realm="Application"'
      end

      # A 401; session_expired says why the session ended (reason:, and cause: with revoked), the
      # other failures never do. The challenge follows the scheme of the caller's Authorization.
      def unauthorized(failure, reason: nil, cause: nil, authorization: nil)
        failure = failure.to_s
        raise ArgumentError, "unknown failure #{failure}" unless AUTH_MESSAGES.key?(failure)

        body = { 'error' => failure, 'message' => AUTH_MESSAGES[failure] }
        if failure == 'session_expired' && ENDED_REASONS.include?(reason.to_s)
          body['reason'] = reason.to_s
          body['cause'] = cause.to_s if reason.to_s == 'revoked' && REVOKED_CAUSES.include?(cause.to_s)
        end
        Answer.new(401, { 'cache-control' => 'no-store', 'www-authenticate' => challenge_for(authorization, failure) }, body)
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
