module tlsorigin

go 1.19
