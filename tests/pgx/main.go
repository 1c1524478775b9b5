// pgxq: a PostgreSQL-wire client that talks exactly like Grafana's PostgreSQL data
// source: jackc's pgconn (the connection layer under pgx) sends each query with the
// simple query protocol (PgConn.Exec, as Grafana's sql_engine_pgx.go does), reads every
// result as text, and parses timestamp, number and boolean columns with pgtype's own
// text decoders, which are as strict as Grafana's.
//
// Usage: pgxq 'postgres://user:pass@127.0.0.1:PORT/db?sslmode=disable' < queries
// Queries are separated by NUL bytes. Prints one JSON line per query:
// {"results": [{"tag", "fields": [{"name", "oid"}], "rows": [[text or null]],
//
//	"parsed": [[value or null]]}], "error": {"code", "message"} or null}.
//
// pgx v5's Ping, Grafana's health check, is Exec of "-- ping": send that text.
//
// pgxq -extended CONNECTION_STRING: each NUL-separated record is a query, optionally
// followed by 0x1e and a JSON array of parameters (a string "time:RFC3339" is sent as a
// time.Time), run with pgx.Conn.Query: the extended protocol, a prepared statement
// described first, parameters and results in the binary format wherever pgx has a
// binary codec (int, float, bool, numeric, timestamptz, text). Prints one JSON line per
// query: {"fields": [{"name", "oid"}], "rows": [[value]], "error"}, times in RFC 3339.
// -cancel-after DURATION cancels each query's context after that long (pgx then sends a
// CancelRequest).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgtype"
	"github.com/jackc/pgx/v4"
)

type field struct {
	Name string `json:"name"`
	OID  uint32 `json:"oid"`
}

type result struct {
	Tag    string          `json:"tag"`
	Fields []field         `json:"fields"`
	Rows   [][]*string     `json:"rows"`
	Parsed [][]interface{} `json:"parsed"`
}

type pgError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type answer struct {
	Results []result `json:"results"`
	Error   *pgError `json:"error"`
}

var ci = pgtype.NewConnInfo()

// parse decodes one text value by its type OID as pgx would, or returns an error text.
func parse(oid uint32, src []byte) interface{} {
	switch oid {
	case pgtype.TimestamptzOID:
		var t pgtype.Timestamptz
		if err := t.DecodeText(ci, src); err != nil {
			return "PARSE ERROR: " + err.Error()
		}
		return t.Time.UTC().Format(time.RFC3339Nano)
	case pgtype.TimestampOID:
		var t pgtype.Timestamp
		if err := t.DecodeText(ci, src); err != nil {
			return "PARSE ERROR: " + err.Error()
		}
		return t.Time.UTC().Format(time.RFC3339Nano)
	case pgtype.Float8OID:
		var f pgtype.Float8
		if err := f.DecodeText(ci, src); err != nil {
			return "PARSE ERROR: " + err.Error()
		}
		return f.Float
	case pgtype.Int8OID, pgtype.Int4OID, pgtype.Int2OID:
		var i pgtype.Int8
		if err := i.DecodeText(ci, src); err != nil {
			return "PARSE ERROR: " + err.Error()
		}
		return i.Int
	case pgtype.BoolOID:
		var b pgtype.Bool
		if err := b.DecodeText(ci, src); err != nil {
			return "PARSE ERROR: " + err.Error()
		}
		return b.Bool
	default:
		if _, ok := ci.DataTypeForOID(oid); !ok {
			return fmt.Sprintf("PARSE ERROR: unknown data type oid %d", oid)
		}
		return string(src)
	}
}

func run(conn *pgconn.PgConn, sql string) answer {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := answer{Results: []result{}}
	// As MultiResultReader.ReadAll, but keeping the columns of a result without rows
	// (pgconn's Result copies them from the first row only).
	mrr := conn.Exec(ctx, sql)
	var err error
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		res := result{Fields: []field{}, Rows: [][]*string{}, Parsed: [][]interface{}{}}
		for rr.NextRow() {
			texts := []*string{}
			parsed := []interface{}{}
			for i, v := range rr.Values() {
				if v == nil {
					texts = append(texts, nil)
					parsed = append(parsed, nil)
					continue
				}
				s := string(v)
				texts = append(texts, &s)
				parsed = append(parsed, parse(rr.FieldDescriptions()[i].DataTypeOID, v))
			}
			res.Rows = append(res.Rows, texts)
			res.Parsed = append(res.Parsed, parsed)
		}
		for _, f := range rr.FieldDescriptions() {
			res.Fields = append(res.Fields, field{Name: string(f.Name), OID: f.DataTypeOID})
		}
		tag, rerr := rr.Close()
		res.Tag = tag.String()
		out.Results = append(out.Results, res)
		if rerr != nil && err == nil {
			err = rerr
		}
	}
	if cerr := mrr.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		out.Error = toErr(err)
	}
	return out
}

func toErr(err error) *pgError {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return &pgError{Code: pe.Code, Message: pe.Message}
	}
	return &pgError{Code: "", Message: err.Error()}
}

type extAnswer struct {
	Fields []field         `json:"fields"`
	Rows   [][]interface{} `json:"rows"`
	Error  *pgError        `json:"error"`
}

func runExtended(conn *pgx.Conn, record []byte, cancelAfter time.Duration) extAnswer {
	out := extAnswer{Fields: []field{}, Rows: [][]interface{}{}}
	sql, rawParams := record, []byte("[]")
	if i := bytes.IndexByte(record, 0x1e); i >= 0 {
		sql, rawParams = record[:i], record[i+1:]
	}
	var params []interface{}
	if err := json.Unmarshal(rawParams, &params); err != nil {
		out.Error = &pgError{Message: "bad parameters: " + err.Error()}
		return out
	}
	for i, p := range params {
		if s, ok := p.(string); ok && len(s) > 5 && s[:5] == "time:" {
			t, err := time.Parse(time.RFC3339Nano, s[5:])
			if err != nil {
				out.Error = &pgError{Message: "bad time parameter: " + err.Error()}
				return out
			}
			params[i] = t
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	if cancelAfter > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), cancelAfter)
	}
	defer cancel()
	rows, err := conn.Query(ctx, string(sql), params...)
	if err != nil {
		out.Error = toErr(err)
		return out
	}
	for _, f := range rows.FieldDescriptions() {
		out.Fields = append(out.Fields, field{Name: string(f.Name), OID: f.DataTypeOID})
	}
	for rows.Next() {
		values, err := rows.Values()
		if err != nil {
			out.Error = toErr(err)
			break
		}
		row := []interface{}{}
		for _, v := range values {
			switch x := v.(type) {
			case time.Time:
				row = append(row, x.UTC().Format(time.RFC3339Nano))
			case pgtype.Numeric:
				var f float64
				x.AssignTo(&f)
				row = append(row, f)
			default:
				row = append(row, x)
			}
		}
		out.Rows = append(out.Rows, row)
	}
	rows.Close()
	if err := rows.Err(); err != nil && out.Error == nil {
		out.Error = toErr(err)
	}
	return out
}

func mainExtended(url string, cancelAfter time.Duration) {
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		json.NewEncoder(os.Stdout).Encode(extAnswer{Error: toErr(err)})
		os.Exit(1)
	}
	defer conn.Close(context.Background())
	input, _ := io.ReadAll(bufio.NewReader(os.Stdin))
	enc := json.NewEncoder(os.Stdout)
	for _, q := range bytes.Split(input, []byte{0}) {
		if len(bytes.TrimSpace(q)) == 0 {
			continue
		}
		enc.Encode(runExtended(conn, q, cancelAfter))
	}
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-extended" {
		mainExtended(os.Args[2], 0)
		return
	}
	if len(os.Args) == 5 && os.Args[1] == "-extended" && os.Args[2] == "-cancel-after" {
		d, err := time.ParseDuration(os.Args[3])
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad duration:", err)
			os.Exit(2)
		}
		mainExtended(os.Args[4], d)
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: pgxq [-extended [-cancel-after DURATION]] CONNECTION_STRING < NUL-separated queries")
		os.Exit(2)
	}
	conn, err := pgconn.Connect(context.Background(), os.Args[1])
	if err != nil {
		json.NewEncoder(os.Stdout).Encode(answer{Results: []result{}, Error: toErr(err)})
		os.Exit(1)
	}
	defer conn.Close(context.Background())
	input, _ := io.ReadAll(bufio.NewReader(os.Stdin))
	enc := json.NewEncoder(os.Stdout)
	for _, q := range bytes.Split(input, []byte{0}) {
		if len(bytes.TrimSpace(q)) == 0 {
			continue
		}
		enc.Encode(run(conn, string(q)))
	}
}
