import { parseProperties, propertiesToRecord } from '../../core/config/properties';

describe('Java .properties reader', () => {
  test('separators, comments, blank lines and whitespace', () => {
    const lines = parseProperties([
      '# comment',
      '! also a comment',
      '',
      '   ',
      'a=1',
      'b = 2',
      'c:3',
      'd   4',
      '  e=  five and more  ',
      'f=',
      'g',
    ].join('\n'));
    expect(lines.map((l) => [l.key, l.value, l.line])).toEqual([
      ['a', '1', 5],
      ['b', '2', 6],
      ['c', '3', 7],
      ['d', '4', 8],
      ['e', 'five and more  ', 9],
      ['f', '', 10],
      ['g', '', 11],
    ]);
  });

  test('line continuations, escapes and CRLF', () => {
    const text = 'listeners=PLAINTEXT://a:1,\\\r\n    PLAINTEXT2://b:2\r\nkey\\=with\\:seps=v\\tx\\u0041\nodd=ends\\\\\nnext=1';
    expect(propertiesToRecord(parseProperties(text))).toEqual({
      listeners: 'PLAINTEXT://a:1,PLAINTEXT2://b:2',
      'key=with:seps': 'v\txA',
      odd: 'ends\\',
      next: '1',
    });
  });

  test('later duplicates win', () => {
    expect(propertiesToRecord(parseProperties('a=1\na=2'))).toEqual({ a: '2' });
  });

  test('a bad \\u escape is an error naming the line', () => {
    expect(() => parseProperties('ok=1\nbad=\\u12G4')).toThrow('Malformed \\uxxxx escape in properties file at line 2');
  });
});
