# frozen_string_literal: true

require_relative 'lib/gatehouse/session_reader/version'

Gem::Specification.new do |spec|
  spec.name = 'gatehouse-session-reader'
  spec.version = Gatehouse::SessionReader::VERSION
  spec.summary = 'Read Gatehouse sessions from Redis in a Rails or Rack service: token verification, the session contract, Rack middleware. Read-only.'
  spec.authors = ['Gatehouse']
  spec.license = 'MIT'
  spec.required_ruby_version = '>= 3.1'
  spec.files = Dir['lib/**/*.rb'] + ['README.md']
  spec.require_paths = ['lib']
  # Debian bookworm has ruby-redis 4.8 and ruby-rack 2.2; redis-rb 5 should work too (untested).
  spec.add_dependency 'redis', '>= 4.6', '< 6'
  spec.add_development_dependency 'minitest', '~> 5.15'
  spec.add_development_dependency 'rack', '>= 2.2'
  spec.add_development_dependency 'webrick', '~> 1.7'
end
