# frozen_string_literal: true

module Gatehouse
  module SessionReader
    # Redis or the JWKS did not answer: whether the session is live is unknown, and it is never
    # taken as live. The middleware answers 503.
    class Unavailable < StandardError
      # :redis or :jwks
      attr_reader :dependency

      def initialize(dependency, cause_message = nil)
        @dependency = dependency
        super("session reader: #{dependency} is unavailable#{cause_message ? " (#{cause_message})" : ''}")
      end
    end
  end
end
