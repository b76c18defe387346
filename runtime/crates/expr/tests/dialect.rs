use runnel_expr::FlinkDialect;
use sqlparser::parser::Parser;

/// Statements the SQL front end parses with [`FlinkDialect`]: all must parse.
#[test]
fn flink_queries_parse() {
    for sql in [
        "SELECT window_start, COUNT(*) FILTER (WHERE price > 10) FROM TABLE(TUMBLE(TABLE Bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND)) GROUP BY window_start, window_end",
        "SELECT `user`, ROW(a, b), ARRAY[1,2], MAP['a', 1] FROM t",
        "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY a ORDER BY b DESC) AS rn FROM t) WHERE rn <= 3",
        "SELECT TUMBLE_START(ts, INTERVAL '1' MINUTE) FROM t GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE)",
        "SELECT CAST(a AS ROW<x INT, y ARRAY<STRING>>) FROM t",
        "SELECT a FROM t /* c */ WHERE s LIKE 'a%' ESCAPE '!' AND b IS NOT DISTINCT FROM 3",
        "SELECT TIMESTAMPDIFF(SECOND, a, b), CURRENT_TIMESTAMP, LOCALTIMESTAMP FROM t",
        "SELECT * FROM a JOIN b FOR SYSTEM_TIME AS OF a.proc AS c ON a.id = c.id",
        "SELECT TRIM(BOTH FROM s), TRIM(s), SUBSTRING(s FROM 1 FOR 2), POSITION('a' IN s), EXTRACT(DOW FROM ts), FLOOR(ts TO HOUR) FROM t",
        "SELECT a.b.c, arr[1], m['k'], t.`select` FROM t",
        "SELECT x FROM t WHERE ts BETWEEN TIMESTAMP '2024-01-01 00:00:00' AND CURRENT_TIMESTAMP - INTERVAL '1' DAY",
        "SELECT window_start FROM TABLE(HOP(TABLE Bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND))",
        "SELECT a FROM t WHERE a IN (SELECT b FROM u)",
        "SELECT 'a' || b, a % 2, -a, NOT a, a <> b, a != b FROM t",
    ] {
        if let Err(e) = Parser::new(&FlinkDialect)
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_statements())
        {
            panic!("{sql}: {e}");
        }
    }
}
