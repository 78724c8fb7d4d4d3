# frozen_string_literal: true

require 'strscan'

module Gatehouse
  module SessionReader
    # RFC 8259 JSON exactly as JavaScript's JSON.parse takes it, which Gatehouse and the Node
    # library use: Ruby's JSON.parse (json < 2.10) also takes /* comments */ and escapes such as
    # \q, refuses lone surrogates and stops at 100 levels of nesting, so a token it decided would
    # not always be the token they decided. Iterative: a deeply nested token cannot exhaust the stack.
    module StrictJson
      class ParseError < StandardError; end

      WHITESPACE = /[ \t\n\r]*/.freeze
      STRING = /"((?:[^"\\\x00-\x1f]|\\["\\\/bfnrt]|\\u\h{4})*)"/.freeze
      NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.freeze
      ESCAPE = /\\u[dD][89abAB]\h{2}\\u[dD][c-fC-F]\h{2}|\\u\h{4}|\\./.freeze
      SIMPLE_ESCAPES = { '"' => '"', '\\' => '\\', '/' => '/', 'b' => "\b", 'f' => "\f", 'n' => "\n", 'r' => "\r", 't' => "\t" }.freeze
      REPLACEMENT = "\u{FFFD}"

      module_function

      # The value of `text` (a valid UTF-8 String): Hash, Array, String, Integer, Float, true,
      # false or nil. Raises ParseError on anything JSON.parse would refuse.
      def parse(text)
        scanner = StringScanner.new(text)
        open = [] # [container, the key its next value goes under]
        scanner.skip(WHITESPACE)
        loop do
          if scanner.skip(/\{/)
            scanner.skip(WHITESPACE)
            if scanner.skip(/\}/)
              value = {}
            else
              open.push([{}, key(scanner)])
              next
            end
          elsif scanner.skip(/\[/)
            scanner.skip(WHITESPACE)
            if scanner.skip(/\]/)
              value = []
            else
              open.push([[], nil])
              next
            end
          elsif scanner.check(/"/)
            value = string(scanner)
          elsif scanner.scan(NUMBER)
            value = scanner[1] || scanner[2] ? Float(scanner[0]) : Integer(scanner[0], 10)
          elsif scanner.skip(/true/) then value = true
          elsif scanner.skip(/false/) then value = false
          elsif scanner.skip(/null/) then value = nil
          else
            raise ParseError, "unexpected input at #{scanner.pos}"
          end
          # A value is complete: place it, and close whatever it completes in turn.
          loop do
            scanner.skip(WHITESPACE)
            if open.empty?
              raise ParseError, "unexpected input at #{scanner.pos}" unless scanner.eos?

              return value
            end
            container, name = open.last
            container.is_a?(Hash) ? container[name] = value : container << value # the last duplicate wins, as in JavaScript
            if scanner.skip(/,/)
              scanner.skip(WHITESPACE)
              open.last[1] = key(scanner) if container.is_a?(Hash)
              break
            end
            raise ParseError, "unexpected input at #{scanner.pos}" unless scanner.skip(container.is_a?(Hash) ? /\}/ : /\]/)

            open.pop
            value = container
          end
        end
      end

      # A member's name and its colon.
      def key(scanner)
        name = string(scanner)
        scanner.skip(WHITESPACE)
        raise ParseError, "expected : at #{scanner.pos}" unless scanner.skip(/:/)

        scanner.skip(WHITESPACE)
        name
      end

      def string(scanner)
        raise ParseError, "expected a string at #{scanner.pos}" unless scanner.scan(STRING)

        scanner[1].gsub(ESCAPE) do |escape|
          if escape.length == 12 # a surrogate pair
            high = escape[2, 4].hex
            low = escape[8, 4].hex
            (0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)).chr(Encoding::UTF_8)
          elsif escape.length == 6
            code = escape[2, 4].hex
            # JavaScript keeps a lone surrogate, which its UTF-8 encoders write as U+FFFD.
            code.between?(0xD800, 0xDFFF) ? REPLACEMENT : code.chr(Encoding::UTF_8)
          else
            SIMPLE_ESCAPES.fetch(escape[1])
          end
        end
      end
    end
  end
end
