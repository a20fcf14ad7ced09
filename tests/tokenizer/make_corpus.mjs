// Writes corpus.jsonl: the texts every tokenizer is compared on, one JSON string per line.
// Deterministic; rerun after editing and commit both files:  node make_corpus.mjs > corpus.jsonl
const texts = [];
const add = (...xs) => texts.push(...xs);

// The empty string and plain English, including contractions in mixed case.
add(
  "",
  "Hello, world!",
  "The quick brown fox jumps over the lazy dog.",
  "I'LL be there, don't worry. You're right; it's fine, we've done it and they'd agree.",
  "I'm, I'M, i'M; she'S, SHE'S; we'Ve; they'RE; he'D; it'Ll; can'T",
  "don't DON'T Don'T dOn't won't shan't y'all ma'am o'clock rock'n'roll",
  "It’s a curly apostrophe: don’t, I’ll, we’re.",
  "it'ſ the long s, it'ſelf, and the Kelvin sign K",
  "''s '''s 's 'S 't 're 've 'm 'll 'd",
  "HeLLo WoRLD, ThIs Is MiXeD cAsE.",
  "ALL CAPS SENTENCE WITH NUMBERS 123 AND SYMBOLS #@!",
  "Mr. Smith paid $4.99 for 3 apples at 9:30 a.m. on 2024-03-15.",
  "Hello , world . Is it ok ? Yes ! I do n't know . He 's here and they 're there ; I 've seen , I 'm sure .",
  "A ' quoted ' word and a ' b",
  "e.g. i.e. etc. vs. U.S.A. Ph.D.",
  "Title Case Words Like The Lord Of The Rings",
  "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
);

// Scripts.
add(
  "你好，世界！今天天气很好。",
  "我爱自然语言处理和机器学习。",
  "繁體中文：臺灣、香港、澳門的傳統漢字。",
  "日本語のテキスト：ひらがな、カタカナ、漢字が混ざっています。",
  "東京タワーは３３３メートルです。",
  "한국어 문장입니다. 안녕하세요, 반갑습니다!",
  "서울특별시 강남구 테헤란로 123",
  "مرحبا بالعالم! هذه جملة باللغة العربية.",
  "اللُّغَةُ العَرَبِيَّةُ مَعَ التَّشْكِيلِ",
  "שלום עולם! זה משפט בעברית.",
  "בְּרֵאשִׁית בָּרָא אֱלֹהִים",
  "नमस्ते दुनिया! यह हिंदी में एक वाक्य है।",
  "संस्कृतम् एका प्राचीना भाषा अस्ति।",
  "สวัสดีชาวโลก นี่คือประโยคภาษาไทย",
  "ภาษาไทยไม่มีช่องว่างระหว่างคำ",
  "Привет, мир! Это предложение на русском языке.",
  "Україна, Київ — їжак, ґанок, є.",
  "Γειά σου κόσμε! Αυτή είναι μια ελληνική πρόταση.",
  "ΣΟΦΙΑ σοφία ΟΔΟΣ οδός ς σ Σ",
  "Ἐν ἀρχῇ ἦν ὁ λόγος",
  "Tiếng Việt có dấu: Đây là một câu tiếng Việt.",
  "Türkçe: İstanbul, ığdır, ŞEHİR, şehir.",
  "Deutsch: Straße, Grüße, ÄÖÜ äöü ß ẞ.",
  "Français : « Bonjour », l'été, où, çà, Œuvre.",
  "Español: ¿Dónde está? ¡Aquí! Niño, año.",
  "Polski: Zażółć gęślą jaźń.",
  "Íslenska: Þetta er ð og þ.",
  "ქართული ენა",
  "Հայերեն լեզու",
  "አማርኛ ቋንቋ",
  "தமிழ் மொழி",
  "বাংলা ভাষা",
  "ગુજરાતી ભાષા",
  "ᠮᠣᠩᠭᠣᠯ ᠪᠢᠴᠢᠭ",
  "ᎠᏂᏴᏫᏯ Cherokee",
  "Mixed: English 中文 日本語 한국어 العربية עברית हिन्दी ไทย Русский Ελληνικά",
);

// Emoji: single, skin tones, ZWJ sequences, flags, keycaps, variation selectors.
add(
  "😀😃😄😁😆",
  "I love 🍕 and 🍣!",
  "👍 👍🏻 👍🏼 👍🏽 👍🏾 👍🏿",
  "👨‍👩‍👧‍👦 family, 👩‍❤️‍💋‍👨 kiss, 🧑‍💻 technologist",
  "🏳️‍🌈 🏴‍☠️ 🇺🇸 🇯🇵 🇩🇪 🇫🇷 🇧🇷 🇺🇳",
  "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland flag (tag sequence)",
  "1️⃣ 2️⃣ #️⃣ *️⃣",
  "❤️ ❤ ♥️ ☺️ ☺",
  "👋🏽‍♀️?",
  "🤖🧠💡🚀🔥✨🎉",
  "emoji🙂inside🙃words",
  "🫠🫡🫶",
);

// Combining marks and normalization-sensitive text.
add(
  "e\u0301 vs é (decomposed and composed)",
  "A\u030A \u212B \u00C5 (three ways to write Å)",
  "\u2126 Ω ohm sign and omega",
  "ﬁ ﬂ ﬀ ligatures",
  "Ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ　１２３",
  "\u1100\u1161\u11A8 decomposed hangul",
  "Z̤̈a̸͍l̬̓g̃̚o̡͐ text",
  "n\u0303 o\u0308 u\u0308\u0301 stacked marks",
  "क्षत्रिय द्विज",
  "x\u0338 ≠ x\u0305",
  "ｶﾀｶﾅ halfwidth katakana",
  "㍻ ㌀ ㍿ squared words",
  "① ② ③ ⑴ ⒈",
);

// Digits and numbers.
add(
  "1234567890",
  "3.14159265358979323846264338327950288419716939937510",
  "1,000,000 and 1.000.000 and 1 000 000",
  "0x7fffffff 0b101010 0o777 1e-10 6.022e23",
  "Phone: +1 (555) 123-4567",
  "١٢٣٤٥٦٧٨٩٠ Arabic-Indic digits",
  "१२३४५ Devanagari digits",
  "１２３４５ fullwidth digits",
  "x² + y³ = z⁴, H₂O, ½ ¾ ⅓",
  "Ⅻ Ⅳ ⅸ roman numerals",
  "12345678901234567890123456789012345678901234567890",
  "v1.2.3-beta.4+build.567",
  "2024-01-01T12:34:56.789Z",
  "-42 +42 ±42 ∓3",
  "99.9% 100% 0.5‰",
  "$1,234.56 €99 £5 ¥1000 ₹500 ₿0.001",
);
for (let n = 1; n <= 24; ++n) add("9876543210".repeat(3).slice(0, n));

// Code.
add(
  "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
  "import numpy as np\narr = np.zeros((3, 4), dtype=np.float32)\nprint(arr.shape)",
  "#include <iostream>\nint main() {\n  std::cout << \"Hello\" << std::endl;\n  return 0;\n}\n",
  "template <typename T>\nT max(T a, T b) { return a > b ? a : b; }",
  "const add = (a, b) => a + b;\nconsole.log(`sum: ${add(1, 2)}`);",
  "fn main() {\n\tlet v: Vec<i32> = (0..10).map(|x| x * x).collect();\n\tprintln!(\"{:?}\", v);\n}",
  "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC LIMIT 10;",
  "<html>\n  <body>\n    <h1 class=\"title\">Hi</h1>\n  </body>\n</html>",
  "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}",
  "#!/bin/bash\nfor f in *.txt; do\n  echo \"$f\" | tr 'a-z' 'A-Z'\ndone",
  "func (s *Server) Handle(w http.ResponseWriter, r *http.Request) {\n\tw.WriteHeader(200)\n}",
  "public static void main(String[] args) { System.out.println(\"x\"); }",
  "    indented with four spaces\n        and eight\n\t\tand two tabs",
  "if (x != null && y == 0 || z >= 1) { a += b; c -= d; e *= f; g /= h; i %= j; }",
  "x = [i**2 for i in range(10) if i % 2 == 0]  # list comprehension",
  "// comment\n/* block comment */\n/** doc comment */",
  "matrix[i][j] = matrix[i - 1][j] + matrix[i][j - 1];",
  "$ git commit -m \"fix: handle edge case\" && git push origin main",
  "\\begin{equation} E = mc^2 \\end{equation} $\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}$",
  "| col1 | col2 |\n|------|------|\n| a    | b    |",
  "- [ ] todo\n- [x] done\n* bullet\n1. numbered",
  "https://example.com/path/to/page?query=value&other=123#anchor",
  "user.name+tag@example.co.uk",
  "C:\\Users\\name\\Documents\\file.txt",
  "a==b!=c<=d>=e->f=>g::h...i",
);

// Whitespace runs.
add(" ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", "\n\n\n", "\r", " \n ", "\t \t", "\n \n\t\n");
for (let n = 1; n <= 8; ++n) {
  add(" ".repeat(n) + "x", "x" + " ".repeat(n), "a" + " ".repeat(n) + "b", "x" + "\n".repeat(n) + "y");
  add("\t".repeat(n) + "if x:", "line\n" + " ".repeat(n) + "indented");
}
add(
  " leading space",
  "trailing space ",
  "   surrounded by spaces   ",
  "multiple   spaces   between   words",
  "tabs\tbetween\twords",
  "windows\r\nline\r\nendings\r\n",
  "mixed \t\n whitespace \n\t ",
  "non\u00a0breaking\u00a0space",
  "ideographic\u3000space",
  "em\u2003space and thin\u2009space",
  "next\u0085line",
  "zero\u200bwidth\u200bspace",
  "line\u2028separator and paragraph\u2029separator",
  "\ufeffbyte order mark at start",
  "vertical\u000btab and form\u000cfeed",
  "trailing newline\n",
  "\n\nleading newlines",
  "a\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\nb",
  " ".repeat(40) + "forty spaces",
  "\t".repeat(20) + "twenty tabs",
  "mongolian\u180evowel separator",
  "x \u180ey",
  "x \ufeffy",
  "x \u0085y",
);

// Special and added tokens written in the text, for every family, in and around words.
const specials = [
  "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<tool_call>", "<|fim_prefix|>",
  "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>",
  "<|reserved_special_token_5|>", "<|python_tag|>",
  "<s>", "</s>", "<unk>", "[INST]", "[/INST]",
  "<bos>", "<eos>", "<pad>", "<start_of_turn>", "<end_of_turn>", "<unused0>", "<start_of_image>",
  "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<|EOT|>", "<｜tool▁sep｜>",
];
for (const s of specials) add(s, `Hello${s}world`, ` ${s} `, `${s}\n${s}`);
add(
  "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
  "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
  "<s>[INST] What is the capital of France? [/INST] Paris.</s>",
  "<bos><start_of_turn>user\nTell me a joke.<end_of_turn>\n<start_of_turn>model\n",
  "<｜begin▁of▁sentence｜><｜User｜>Hello<｜Assistant｜><think>\nhmm\n</think>\n\nHi!<｜end▁of▁sentence｜>",
  "<s><s></s></s><unk><unk>",
  "<|im_start|<|im_start|>|>",
  "<|im_start <|im_start|",
  "< |im_start|> <| im_start |>",
  "<|IM_START|> <S> </S>",
  "<|endoftext|><|endoftext|><|endoftext|>",
  "text<|endoftext|>",
  "<|endoftext|>text",
  "<think>I should think step by step.</think>The answer is 42.",
  "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
  "<h1>heading</h1><p>paragraph</p><br/>",
);

// Long words and long runs.
add(
  "a".repeat(1000),
  "ab".repeat(500),
  "supercalifragilisticexpialidocious".repeat(20),
  "中".repeat(300),
  "🙂".repeat(100),
  "ha".repeat(200) + "!",
  "x".repeat(257) + " " + "y".repeat(300),
  "The" + "e".repeat(60) + " end",
  "-".repeat(80),
  "=".repeat(120) + "\n" + "#".repeat(60),
  "aGVsbG8gd29ybGQgdGhpcyBpcyBhIGxvbmcgYmFzZTY0IHN0cmluZyB3aXRoIG5vIHNwYWNlcyBhdCBhbGwgMTIzNDU2Nzg5MA==",
  "https://example.com/" + "very/long/path/".repeat(20) + "file.html",
  "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch",
  "0123456789".repeat(30),
);

// Punctuation, symbols, quotes.
add(
  "!!!???...,,,;;;:::",
  "“Smart quotes” and ‘single quotes’ and «guillemets» and „German“",
  "Em—dash, en–dash, hyphen-minus, minus − sign",
  "Ellipsis… and three dots...",
  "∑∫√∞≠≤≥∂∇∈∉⊂⊃∪∩ math symbols",
  "→ ← ↑ ↓ ⇒ ⇔ arrows",
  "♠♣♥♦ ♪♫ ☀☁☂ ✓✗ ★☆",
  "©®™ § ¶ † ‡ • ◦",
  "@user #hashtag $var %percent ^caret &amp *star (paren) [bracket] {brace}",
  "¿¡ ؟ 。、 ！？ ，；",
  "...hello...world...",
  "--option=value -f --flag",
  "'single' \"double\" `backtick`",
  "a/b\\c|d_e~f",
  "(((nested))) [[[brackets]]] {{{braces}}}",
  "</s",
  "<0x41> <0xFF> literal byte token text",
  "▁ leading meta space ▁▁ and Ġ Ċ byte-level look-alikes",
);

// Sentences mixing everything.
add(
  "In 2023, the model scored 95.5% on the benchmark — a 🚀 improvement over 2022's 80%!",
  "北京 (Beijing) is the capital; population ≈ 21,540,000.",
  "The word “naïve” has a diaeresis; “café” has an acute accent.",
  "Use `pip install torch==2.1.0` then run `python -m train --lr 3e-4`.",
  "She said, \"I'll be back at 5 p.m.\" — and she was.",
  "Q: What's 7×8? A: 56.",
  "Email me at a.b@c.de or call +49-30-1234567.",
  "The π ≈ 3.14159 and e ≈ 2.71828 constants.",
  "Über-cool façade résumé coöperate.",
  "Line one.\nLine two.\n\nParagraph two, line one.",
  "Tab\tseparated\tvalues\n1\t2\t3",
  "key: value\nlist:\n  - item1\n  - item2",
  "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<body></body>",
  "🇨🇦 Canada, 🇲🇽 Mexico, and 🇺🇸 the U.S. share North America.",
  "Il était une fois… une princesse qui s'appelait Élodie.",
  "Он сказал: «Я приду в 10:00».",
  "彼は「明日行きます」と言った。",
  "그는 \"내일 갈게요\"라고 말했다.",
  "Numbers: 1st, 2nd, 3rd, 4th, 21st, 102nd.",
  "Temperature: -40°C = -40°F.",
);

// Every script sample again with a leading space and a trailing period.
const scripts = ["你好", "こんにちは", "안녕하세요", "مرحبا", "שלום", "नमस्ते", "สวัสดี", "Привет", "Γειά", "Xin chào"];
for (const s of scripts) add(` ${s}.`, `${s}, ${s}!`, `${s}\n${s}`);

for (const t of texts) process.stdout.write(JSON.stringify(t) + "\n");
