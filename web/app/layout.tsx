import type { Metadata, Viewport } from "next";
import Header from "@/components/Header";
import { SessionProvider } from "@/lib/session";
import "./globals.css";

export const metadata: Metadata = { description: "Book seats for events, in real time." };
export const viewport: Viewport = { width: "device-width", initialScale: 1 };

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body>
        <SessionProvider>
          <Header />
          <main>{children}</main>
        </SessionProvider>
      </body>
    </html>
  );
}
