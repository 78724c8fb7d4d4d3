# frozen_string_literal: true

# Runs every test of the gem in one process: ruby test/run.rb (from the gem's folder or anywhere).
Dir[File.join(__dir__, '*_test.rb')].sort.each { |file| require file }
