# frozen_string_literal: true

require 'base64'
require 'openssl'
require 'uri'

module Gatehouse
  module SessionReader
    # Where a request carries its token, read exactly as Gatehouse reads it
    # (packages/session-reader/src/credentials.ts). Header values are taken as bytes, the way Node
    # decodes them (latin1), so a byte 0xA0 is the same whitespace to both.
    module Credentials
      # Far longer than any token Gatehouse issues; anything longer is not worth parsing.
      MAX_TOKEN_LENGTH = 4096

      # JavaScript's \s and String#trim, as far as a latin1 header can reach them.
      WS = "\t\n\v\f\r \xA0".b.freeze
      SCHEME = /\A(?:token|bearer)[\t\n\v\f\r \xA0]+/ni.freeze
      PARAM_DELIMITERS = /[,;\t]/n.freeze
      TRIM = /\A[\t\n\v\f\r \xA0]+|[\t\n\v\f\r \xA0]+\z/n.freeze
      TOKEN_KEY = 'token='.b.freeze

      # Returned by token_from_cookies when one cookie name comes with two different values
      # ("cookie tossing" by a sibling subdomain): refused, never guessed between.
      AMBIGUOUS = :ambiguous

      CSRF_HEADER = 'x-csrf-token'
      SAFE_METHODS = %w[GET HEAD OPTIONS].freeze
      DEFAULT_PORTS = { 'http' => 80, 'https' => 443, 'ws' => 80, 'wss' => 443, 'ftp' => 21 }.freeze

      module_function

      # The token in an Authorization header, by Rails' authenticate_with_http_token rules (the
      # scheme matched case-insensitively), or nil:
      #   Token token=abc / Token token="abc", device="ios" / Token abc / Bearer abc  -> abc
      def parse_token_header(header)
        return nil if header.nil? || header.empty?

        header = header.b
        scheme = SCHEME.match(header)
        return nil unless scheme

        params = header[scheme.end(0)..].split(PARAM_DELIMITERS).map { |param| param.gsub(TRIM, '') }.reject(&:empty?)
        first = params.first
        return nil if first.nil?

        pair = first.start_with?(TOKEN_KEY) ? first : TOKEN_KEY + first
        # Rails splits on the first '=' only and strips one leading and one trailing quote.
        value = pair[TOKEN_KEY.length..].sub(/\A"/n, '').sub(/"\z/n, '')
        value.empty? ? nil : value
      end

      # The session cookie's possible names, the preferred first, and the CSRF cookie's: `__Host-`
      # by default; `shared` (Gatehouse's COOKIE_DOMAIN) adds `__Secure-`; `secure: false` is the
      # plain-http development name (COOKIE_SECURE=false).
      def cookie_names(secure:, shared:)
        return { session: ['gatehouse_session'], csrf: 'gatehouse_csrf' } unless secure
        return { session: ['__Host-gatehouse_session', '__Secure-gatehouse_session'], csrf: '__Secure-gatehouse_csrf' } if shared

        { session: ['__Host-gatehouse_session'], csrf: '__Host-gatehouse_csrf' }
      end

      # The session token from a Cookie header: the first of `names` present, AMBIGUOUS when a
      # name comes twice with different values, nil when none.
      def token_from_cookies(header, names)
        return nil if header.nil? || header.empty?

        found = {}
        header.b.split(';', -1).each do |pair|
          eq = pair.index('=')
          next if eq.nil?

          # Only spaces and tabs are trimmed (RFC 6265 5.2): a planted "\xA0__Host-gatehouse_session"
          # must not pass for the real __Host- cookie.
          name = trim_ows(pair[0...eq])
          next unless names.include?(name)

          value = trim_ows(pair[(eq + 1)..]).sub(/\A"(.*)"\z/n, '\1')
          seen = found[name]
          found[name] = seen.nil? || seen == value ? value : AMBIGUOUS
        end
        names.each do |name|
          value = found[name]
          return value if !value.nil? && value != ''
        end
        nil
      end

      def trim_ows(text)
        text.sub(/\A[ \t]+/n, '').sub(/[ \t]+\z/n, '')
      end

      # SHA-256 of the session token under a label: only a page that can read the cookies knows it.
      def csrf_token_for(token)
        Base64.urlsafe_encode64(OpenSSL::Digest::SHA256.digest("gatehouse-csrf:#{token.b}".b), padding: false)
      end

      # The Origin header, or else the origin of the Referer (as a browser's URL#origin); nil if
      # neither is usable. `headers` has lower-case names.
      def origin_of(headers)
        origin = headers['origin']
        return origin if origin.is_a?(String) && origin != ''

        referer = headers['referer']
        return nil unless referer.is_a?(String)

        uri = URI.parse(referer)
        scheme = uri.scheme&.downcase
        return nil if scheme.nil?
        return 'null' unless DEFAULT_PORTS.key?(scheme)
        return nil if uri.host.nil? || uri.host.empty?

        port = uri.port.nil? || uri.port == DEFAULT_PORTS[scheme] ? '' : ":#{uri.port}"
        "#{scheme}://#{uri.host.downcase}#{port}"
      rescue URI::Error
        nil
      end

      # Why a request does not come from one of the allowed origins' pages, or nil if it does.
      def origin_rejection(headers, allowed_origins, list_name = 'the allowed origins')
        # Fetch Metadata: a browser says when a request comes from another site altogether.
        site = headers['sec-fetch-site']
        return "Sec-Fetch-Site is #{site}" if !site.nil? && site != 'same-origin' && site != 'same-site'

        origin = origin_of(headers)
        return 'no Origin or Referer header' if origin.nil?
        return "origin #{origin} is not in #{list_name}" unless allowed_origins.include?(origin)

        nil
      end

      # Why a cookie-authenticated request fails the CSRF check, or nil: a request that changes
      # state must come from an allowed origin and carry X-CSRF-Token for this very session.
      def csrf_rejection(method, headers, token, allowed_origins, list_name = 'the allowed origins')
        return nil if SAFE_METHODS.include?(method)

        bad_origin = origin_rejection(headers, allowed_origins, list_name)
        return bad_origin unless bad_origin.nil?

        sent = headers[CSRF_HEADER]
        return "no #{CSRF_HEADER} header" if !sent.is_a?(String) || sent.empty?

        expected = csrf_token_for(token)
        given = sent.b
        return "#{CSRF_HEADER} does not match the session" unless given.bytesize == expected.bytesize && OpenSSL.fixed_length_secure_compare(given, expected)

        nil
      end
    end
  end
end
