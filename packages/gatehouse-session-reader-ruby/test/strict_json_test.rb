# frozen_string_literal: true

require_relative 'test_helper'

# Token JSON and base64url read as Gatehouse and the Node library read them (JSON.parse,
# Buffer.from(x, 'base64url')). The expectations are what Node 20 answers for the same text.
class StrictJsonTest < Minitest::Test
  def parse(text)
    Gatehouse::SessionReader::StrictJson.parse(text.dup.force_encoding(Encoding::UTF_8))
  end

  def test_what_json_parse_refuses_is_refused
    ['{"a":1/*x*/}', '{"a":1}//', '{"a":"\q"}', '{"a":01}', '{"a":NaN}', '{"a":-Infinity}', '{"a":Infinity}', '{"a":1.}',
     '{"a":.5}', '{"a":-}', '{"a":+1}', '{"a":0x10}', '{"a":1,}', '[1,]', '{,}', '{"a" 1}', '{"a":1}}', '{"a":1}x', "{'a':1}",
     '{"a":tru}', '{"a":truex}', "{\"a\":\"x\ty\"}", "{\"a\":1}\f", "{\"a\":\v1}", '', ' ', '{', '["a"'].each do |text|
      assert_raises(Gatehouse::SessionReader::StrictJson::ParseError, text.inspect) { parse(text) }
    end
  end

  def test_what_json_parse_takes_is_read_alike
    assert_equal({ 'a' => [1, 0.0025, 0, true, false, nil, {}, [], "x\"y\\z/\b\f\n\r\t"] },
                 parse(' {"a" : [ 1 , 2.5e-3 , -0 , true , false , null , {} , [] , "x\"y\\\\z\/\b\f\n\r\t" ] } '))
    assert_equal({ 'a' => 2 }, parse('{"a":1,"a":2}'), 'the last duplicate wins')
    assert_equal({ 'a' => "\u{1F600}x\u00e9\u0000" }, parse('{"a":"\ud83d\ude00x\u00e9\u0000"}'))
    assert_equal({ 'a' => '\\ud800' }, parse('{"a":"\\\\ud800"}'), 'an escaped backslash before u')
    # JavaScript keeps a lone surrogate; written as UTF-8 it is U+FFFD.
    assert_equal({ 'a' => "\u{1D11E}\u{FFFD}" }, parse('{"a":"\uD834\uDD1E\uDD1E"}'))
    assert_equal({ 'a' => "\u{FFFD}\u{FFFD}" }, parse('{"a":"\uDD1E\uD834"}'))
    assert_equal({ 'a' => Float::INFINITY, 'b' => 100.0 }, parse('{"a":1e400,"b":1E+2}'))
    assert_equal 'x', parse('"x"')
    # Exact where JavaScript rounds; no decision turns on it (not a safe integer either way).
    assert_equal 12_345_678_901_234_567_890, parse('12345678901234567890')
  end

  def test_nesting_deeper_than_ruby_json_allows
    depth = 3000
    value = parse("{\"a\":#{'[' * depth}#{']' * depth}}")['a']
    (depth - 1).times { value = value.first }
    assert_equal [], value
  end

  def test_base64url_ignores_unused_low_bits_but_not_foreign_characters
    decode = Gatehouse::SessionReader::Token.method(:base64url_decode)
    assert_equal 'A', decode.call('QQ')
    assert_equal 'A', decode.call('QR'), 'the low 4 bits of R are unused'
    assert_equal 'AA', decode.call('QUF'), 'the low 2 bits of F are unused'
    assert_equal "\xFB\xFF".b, decode.call('-_-')
    ['QQ==', 'QQ=', 'Q+', 'Q/', 'Q!', 'Q Q', "QQ\n", 'Q', 'QQQQQ'].each { |text| assert_nil decode.call(text), text.inspect }
  end
end
