# frozen_string_literal: true

module Gatehouse
  module SessionReader
    # The gate without any framework (the Node library's authenticateRequest): from a Rack env to
    # the live session, or the exact answer Gatehouse would give. The Rack middleware and a Rails
    # before_action both use it.
    class Authenticator
      # ok? with a session, or not with the Answer to send.
      Outcome = Struct.new(:session, :answer) do
        def ok?
          !session.nil?
        end
      end

      # reader: a Reader.
      # cookie: also accept the web app's session cookie; then a request that changes state must
      #   pass Gatehouse's CSRF check: { allowed_origins: [...], shared: false, insecure: false }.
      # audience_header: Gatehouse's JWT_AUD_HEADER (default JWT-Aud).
      # on_fault: called with an exception worth a log line (a dependency down, an unknown layout).
      def initialize(reader:, cookie: nil, audience_header: 'JWT-Aud', on_fault: nil)
        raise ArgumentError, 'reader: a Gatehouse::SessionReader::Reader is required' unless reader.respond_to?(:verify) && reader.respond_to?(:session)

        @reader = reader
        @on_fault = on_fault || ->(error) { warn(error.message) }
        @audience_key = "HTTP_#{audience_header.upcase.tr('-', '_')}"
        @cookie = cookie
        return unless cookie

        @allowed_origins = Array(cookie[:allowed_origins]).map(&:to_s).to_set
        raise ArgumentError, 'cookie: allowed_origins: name the web app origins whose pages may use the session cookie' if @allowed_origins.empty?

        @cookie_names = Credentials.cookie_names(secure: !cookie[:insecure], shared: cookie[:shared] == true)[:session]
      end

      def call(env)
        # The 401's challenge follows the scheme the caller used (Bearer or Token).
        authorization = env['HTTP_AUTHORIZATION']
        header = Credentials.parse_token_header(authorization)
        token = header || (@cookie ? Credentials.token_from_cookies(env['HTTP_COOKIE'], @cookie_names) : nil)
        return fail_with(Answers.unauthorized('missing_token', authorization: authorization)) if token.nil?
        return fail_with(Answers.unauthorized('invalid_token', authorization: authorization)) if token == Credentials::AMBIGUOUS || token.length > Credentials::MAX_TOKEN_LENGTH

        # In Gatehouse's order: the token, then (for a cookie) the CSRF check, then the session.
        verified = @reader.verify(token, audience: env[@audience_key])
        return fail_with(answer_of(verified, authorization)) if verified.is_a?(NotLive)

        if header.nil?
          why = Credentials.csrf_rejection(env['REQUEST_METHOD'], request_headers(env), token, @allowed_origins)
          return fail_with(Answers.csrf_rejected(why)) if why
        end
        result = @reader.session(verified)
        unless result.live?
          answer = answer_of(result, authorization)
          return fail_with(answer) if answer

          @on_fault.call(RuntimeError.new('a session hash has a layout version this reader does not know: upgrade gatehouse-session-reader'))
          return fail_with(Answers.unavailable('session layout'))
        end
        Outcome.new(result, nil)
      rescue Unavailable => e
        @on_fault.call(e)
        fail_with(Answers.unavailable(e.dependency))
      end

      private

      def fail_with(answer)
        Outcome.new(nil, answer)
      end

      # Not live for the caller's own reasons: the 401 Gatehouse gives, with why the session ended;
      # nil for the service's fault. A hash that is not the token's (no_session) ended with nothing
      # to tell of it, as a session Redis let expire: idle.
      def answer_of(not_live, authorization)
        case not_live.reason
        when :unknown_version then nil
        when :invalid_token, :wrong_audience then Answers.unauthorized('invalid_token', authorization: authorization)
        when :no_session then Answers.unauthorized('session_expired', reason: :idle, authorization: authorization)
        else Answers.unauthorized('session_expired', reason: not_live.reason, cause: not_live.cause, authorization: authorization)
        end
      end

      def request_headers(env)
        { 'origin' => env['HTTP_ORIGIN'], 'referer' => env['HTTP_REFERER'],
          'sec-fetch-site' => env['HTTP_SEC_FETCH_SITE'], Credentials::CSRF_HEADER => env['HTTP_X_CSRF_TOKEN'] }
      end
    end
  end
end
