CREATE TABLE src (
  id BIGINT,
  name STRING,
  score INT
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  id BIGINT,
  name STRING,
  doubled INT
) WITH ('connector' = 'print');

INSERT INTO print_sink SELECT id, name, score * 2 FROM src WHERE score > 8;
