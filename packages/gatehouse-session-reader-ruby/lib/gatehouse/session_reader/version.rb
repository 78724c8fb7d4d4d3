# frozen_string_literal: true

module Gatehouse
  module SessionReader
    VERSION = '0.1.0'
  end
end
