# frozen_string_literal: true

require 'set'
require_relative 'session_reader/version'
require_relative 'session_reader/errors'
require_relative 'session_reader/answers'
require_relative 'session_reader/credentials'
require_relative 'session_reader/token'
require_relative 'session_reader/keys'
require_relative 'session_reader/reader'
require_relative 'session_reader/authenticator'
require_relative 'session_reader/middleware'

module Gatehouse
  # Read Gatehouse sessions in a Ruby service (Rails, any Rack app): the token from the request
  # as Gatehouse takes it, verified, and the session's state read from Redis by the contract
  # (docs/session-contract.md). Never writes to Redis.
  module SessionReader
  end
end
