//! Distinguished names as Go's `crypto/x509` prints them (`pkix.Name.String()`): the form
//! blackbox_exporter puts in the `subject` and `issuer` labels of `probe_ssl_last_chain_info`.
//! Pure, over the parsed name.
//!
//! Go does not print the name as it is encoded. It reads the well-known attributes into fields
//! (the last CN and serialNumber win; countries, organisations and the other lists keep every
//! value) and prints them in a fixed order, most specific first:
//! `SERIALNUMBER, CN, OU, O, POSTALCODE, STREET, L, ST, C`, the values of one field joined by
//! `+` in encoded order; then every other attribute, last encoded first, as `OID=#` and the hex
//! of its value re-encoded in DER. Values are escaped as RFC 2253 asks (`,+"\<>;` always, a
//! leading `#` or space, a trailing space).

use x509_parser::x509::X509Name;

/// The attributes Go reads into fields, in the order it writes them (reversed on printing), by
/// the last arc of `2.5.4.x`, with the name it prints.
const FIELDS: [(u64, &str); 9] = [
    (6, "C"),
    (8, "ST"),
    (7, "L"),
    (9, "STREET"),
    (17, "POSTALCODE"),
    (10, "O"),
    (11, "OU"),
    (3, "CN"),
    (5, "SERIALNUMBER"),
];

/// DER tags of the string types Go reads an attribute value from.
const T61_STRING: u32 = 20;
const PRINTABLE_STRING: u32 = 19;
const UTF8_STRING: u32 = 12;
const BMP_STRING: u32 = 30;
const IA5_STRING: u32 = 22;
const NUMERIC_STRING: u32 = 18;

/// One attribute: its type (`None` unless `2.5.4.x`: the last arc) and its OID, and its value.
struct Attribute {
    field: Option<u64>,
    oid: String,
    value: String,
}

/// `name` as Go's `pkix.Name.String()` prints it.
pub fn go_name(name: &X509Name<'_>) -> String {
    let attributes: Vec<Attribute> = name
        .iter()
        .flat_map(|rdn| rdn.iter())
        .map(|atv| {
            let oid = atv.attr_type();
            let arcs: Option<Vec<u64>> = oid.iter().map(|arcs| arcs.collect());
            let field = match arcs.as_deref() {
                Some([2, 5, 4, x]) => Some(*x),
                _ => None,
            };
            let value = atv.attr_value();
            Attribute {
                field,
                oid: oid.to_id_string(),
                value: go_string(value.header.tag().0, value.data),
            }
        })
        .collect();
    // The sequence Go prints, in reverse: the other attributes, then the fields.
    let mut rdns: Vec<Vec<String>> = attributes
        .iter()
        .filter(|a| !a.field.is_some_and(|x| FIELDS.iter().any(|(f, _)| *f == x)))
        .map(|a| vec![format!("{}=#{}", a.oid, hex(&der_string(&a.value)))])
        .collect();
    for (arc, label) in FIELDS {
        let values: Vec<&str> = attributes
            .iter()
            .filter(|a| a.field == Some(arc))
            .map(|a| a.value.as_str())
            .collect();
        let values: Vec<&str> = match arc {
            // A single-valued field: the last value wins, and an empty one is not printed.
            3 | 5 => values
                .last()
                .filter(|v| !v.is_empty())
                .into_iter()
                .copied()
                .collect(),
            _ => values,
        };
        if !values.is_empty() {
            rdns.push(
                values
                    .iter()
                    .map(|v| format!("{label}={}", escape(v)))
                    .collect(),
            );
        }
    }
    rdns.iter()
        .rev()
        .map(|rdn| rdn.join("+"))
        .collect::<Vec<_>>()
        .join(",")
}

/// An attribute value as the Go string it parses into: UTF-8 and the ASCII types as they are,
/// BMPString from UTF-16, T61String byte by byte (Go takes its bytes as they are; here each is
/// one character, so a label stays valid UTF-8). Other types fail Go's parse; they are read
/// as text here.
fn go_string(tag: u32, data: &[u8]) -> String {
    match tag {
        BMP_STRING => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        T61_STRING => data.iter().map(|&b| char::from(b)).collect(),
        UTF8_STRING | PRINTABLE_STRING | IA5_STRING | NUMERIC_STRING => {
            String::from_utf8_lossy(data).into_owned()
        }
        _ => String::from_utf8_lossy(data).into_owned(),
    }
}

/// Go's `asn1.Marshal` of a string: a PrintableString when every character is printable, else
/// a UTF8String.
fn der_string(value: &str) -> Vec<u8> {
    let printable = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b));
    let tag = if printable {
        PRINTABLE_STRING
    } else {
        UTF8_STRING
    };
    let len = value.len();
    let mut der = vec![tag as u8];
    if len < 0x80 {
        der.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        der.push(0x80 | bytes.len() as u8);
        der.extend(bytes);
    }
    der.extend_from_slice(value.as_bytes());
    der
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 2253 escapes, as Go writes them.
fn escape(value: &str) -> String {
    let last = value.len().saturating_sub(1);
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.char_indices() {
        let escaped = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => i == 0 || i == last,
            '#' => i == 0,
            _ => false,
        };
        if escaped {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, DnValue, KeyPair};
    use x509_parser::prelude::{FromDer, X509Certificate};

    /// The subject of a certificate made with `entries`, as Go prints it.
    fn subject(entries: &[(DnType, DnValue)]) -> String {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in entries {
            p.distinguished_name.push(t.clone(), v.clone());
        }
        let cert = p.self_signed(&KeyPair::generate().unwrap()).unwrap();
        let (_, parsed) = X509Certificate::from_der(cert.der()).unwrap();
        go_name(parsed.subject())
    }

    fn utf8(s: &str) -> DnValue {
        DnValue::Utf8String(s.into())
    }

    #[test]
    fn names_print_in_gos_order_with_its_escapes() {
        use DnType::*;
        let email = CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]);
        let cases: Vec<(Vec<(DnType, DnValue)>, &str)> = vec![
            (vec![(CommonName, utf8("shop.example"))], "CN=shop.example"),
            (
                // Encoded C, O, CN; printed most specific first.
                vec![
                    (
                        CountryName,
                        DnValue::PrintableString("US".try_into().unwrap()),
                    ),
                    (OrganizationName, utf8("Let's Encrypt")),
                    (CommonName, utf8("R3")),
                ],
                "CN=R3,O=Let's Encrypt,C=US",
            ),
            (
                // Encoded order does not matter: the fields have Go's order.
                vec![
                    (CommonName, utf8("a")),
                    (LocalityName, utf8("Paris")),
                    (OrganizationalUnitName, utf8("Ops")),
                    (StateOrProvinceName, utf8("IDF")),
                    (CountryName, utf8("FR")),
                ],
                "CN=a,OU=Ops,L=Paris,ST=IDF,C=FR",
            ),
            (
                // An attribute Go has no field for comes last, as its OID and DER value in hex;
                // '@' is not printable, so Go re-encodes it as a UTF8String.
                vec![
                    (CommonName, utf8("a")),
                    (email.clone(), DnValue::Ia5String("x@y".try_into().unwrap())),
                ],
                "CN=a,1.2.840.113549.1.9.1=#0c03784079",
            ),
            (
                vec![(email, DnValue::Ia5String("xy".try_into().unwrap()))],
                "1.2.840.113549.1.9.1=#13027879",
            ),
            (
                vec![(CommonName, utf8(" a,b+c\"d\\e<f>g;h "))],
                r#"CN=\ a\,b\+c\"d\\e\<f\>g\;h\ "#,
            ),
            (vec![(CommonName, utf8("#x#"))], r"CN=\#x#"),
            (vec![(OrganizationName, utf8("é"))], "O=é"),
        ];
        for (entries, want) in cases {
            assert_eq!(subject(&entries), want, "{entries:?}");
        }
    }

    #[test]
    fn several_values_of_one_field_join_with_plus_and_the_last_cn_wins() {
        // rcgen keeps one value per type; build the name by hand: two OUs, two CNs.
        let name = |oid_last: u8, v: &str| -> Vec<u8> {
            let mut atv = vec![0x06, 0x03, 0x55, 0x04, oid_last, 0x0c, v.len() as u8];
            atv.extend_from_slice(v.as_bytes());
            let mut seq = vec![0x30, atv.len() as u8];
            seq.extend(atv);
            let mut set = vec![0x31, seq.len() as u8];
            set.extend(seq);
            set
        };
        let mut rdns = Vec::new();
        for (arc, v) in [(11, "a"), (3, "first"), (11, "b"), (3, "last")] {
            rdns.extend(name(arc, v));
        }
        let mut der = vec![0x30, rdns.len() as u8];
        der.extend(rdns);
        let (_, parsed) = X509Name::from_der(&der).unwrap();
        assert_eq!(go_name(&parsed), "CN=last,OU=a+OU=b");
    }

    #[test]
    fn long_values_get_a_long_der_length() {
        let v = "a".repeat(200);
        let der = der_string(&v);
        assert_eq!(&der[..3], &[0x13, 0x81, 200]);
        assert_eq!(der.len(), 203);
    }
}
